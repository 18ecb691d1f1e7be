"""A password in a database URL's query (`?password=`) is masked like user:password."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.web.app import create_app
from shared.redact import mask_url
from tests.conftest import Cli
from tests.web_factories import FakeBroker, web_settings

SECRET = "s3cret-in-the-query"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://gs@db/gs?password=pw&sslmode=require",
            "postgresql://gs@db/gs?password=***&sslmode=require",
        ),
        ("postgresql+psycopg://gs:pw@db:5432/gs", "postgresql+psycopg://gs:***@db:5432/gs"),
        (
            "postgresql://gs@db/gs?sslpassword=pw&PASSWORD=pw",
            "postgresql://gs@db/gs?sslpassword=***&PASSWORD=***",
        ),
        ("postgresql://gs@db/gs?pass%77ord=pw", "postgresql://gs@db/gs?pass%77ord=***"),
        ("redis://db:6379/0?password=pw", "redis://db:6379/0?password=***"),
        ("redis://:pw@[::1]:6379/0", "redis://:***@[::1]:6379/0"),
        ("sqlite:////data/garmin.db", "sqlite:////data/garmin.db"),
        (
            "postgresql://gs@db/gs?application_name=garminsync",
            "postgresql://gs@db/gs?application_name=garminsync",
        ),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.integration
def test_status_and_the_system_page_mask_a_password_in_the_query(
    pg_url: str, cli: Cli, tmp_path: Path
) -> None:
    """libpq takes `?password=`; the trust-auth test server ignores it, so the URL works as given."""
    url = f"{pg_url}?password={SECRET}"
    for args in (("status",), ("status", "--json")):
        result = cli.subprocess(*args, DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr and "password=***" in result.stdout
    client = create_app(web_settings(tmp_path, DATABASE_URL=url), broker=FakeBroker()).test_client()
    system = client.get("/api/system").get_json()
    assert system["database"]["url"].endswith("?password=***")
    assert SECRET not in client.get("/system").get_data(as_text=True)
