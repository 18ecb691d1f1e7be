"""The activity list: refreshed from Garmin (one request when nothing changed), then read."""

from __future__ import annotations

from typing import Any

from shared.db import create_session
from shared.listing import ListingResult, refresh_listing
from shared.models import Account
from shared.planning import Filters
from shared.reports import activity_rows
from shared.runtime import Runtime


def refresh(runtime: Runtime, account_id: int) -> ListingResult:
    """Read Garmin's list into the store, newest first, up to the first page already known."""
    with create_session(runtime.settings.database_url) as session:
        account = session.get(Account, account_id)
        assert account is not None
        session.expunge(account)
    gateway = runtime.gateway(account)
    return refresh_listing(runtime.settings.database_url, gateway, account_id, runtime.settings.page_size)


def activities(
    runtime: Runtime,
    account_id: int,
    which: str,
    filters: Filters,
    limit: int | None = None,
    *,
    offline: bool = False,
) -> list[dict[str, Any]]:
    """`which`: all, missing (`shared.states`) or downloaded, newest first; refreshed unless `offline`."""
    if not offline:
        refresh(runtime, account_id)
    return activity_rows(runtime.settings.database_url, account_id, which, filters, limit)
