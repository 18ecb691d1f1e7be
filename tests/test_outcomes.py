"""One mapping from an error's type to what it means: the CLI's exit code, the dashboard's
status, and the kind a failed run keeps (so `sync --wait` exits as embedded mode would)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError

from shared import errors as e
from shared.models import SyncRun
from shared.outcomes import EXIT_CODES, HTTP_STATUSES, Kind, describe, kind_of
from shared.usecases.runs import failure
from tests.stack import Stack

# The README's exit codes and docs/API.md's statuses, by error type.
CASES = [
    (e.UsageError("bad"), 2, 400),
    (e.AuthRequired("log in"), 3, 400),
    (e.ConfigError("setting"), 5, 503),
    (e.StorageError("data dir"), 5, 503),
    (e.BrokerUnavailable("redis"), 5, 503),
    (e.AddressInUse("port"), 5, 503),
    (e.RateLimited("429"), 6, 429),
    (e.TransientError("5xx"), 6, 502),
    (e.BadArchive("zip"), 6, 502),
    (e.NotFound("gone"), 1, 404),
    (e.GarminSyncError("other"), 1, 400),
    (OperationalError("SELECT 1", {}, Exception("locked")), 5, 500),
    (DatabaseError("SELECT 1", {}, Exception("file is not a database")), 5, 500),
    (IntegrityError("INSERT", {}, Exception("unique")), 1, 500),
    (KeyError("bug"), 1, 500),
    (KeyboardInterrupt(), 130, 503),
]


@pytest.mark.parametrize(("error", "exit_code", "status"), CASES, ids=lambda case: type(case).__name__)
def test_each_error_type_has_one_meaning(error: BaseException, exit_code: int, status: int) -> None:
    kind = kind_of(error)
    assert EXIT_CODES[kind] == exit_code
    if isinstance(error, e.GarminSyncError):
        assert HTTP_STATUSES[kind] == status


def test_every_kind_has_an_exit_code_and_a_status() -> None:
    assert set(EXIT_CODES) == set(HTTP_STATUSES) == set(Kind)


def test_descriptions_are_one_line_for_people() -> None:
    assert (
        describe(e.AuthRequired("account 'x' needs `garminsync login`"))
        == "account 'x' needs `garminsync login`"
    )
    assert describe(KeyboardInterrupt()) == "interrupted"
    assert describe(KeyError("x")) == "unexpected KeyError: 'x'"


def test_a_failed_run_is_read_by_its_kind_not_its_message() -> None:
    run = SyncRun(status="error", message="the word login, but Garmin was down", error_kind="garmin_failing")
    assert failure(run) is Kind.GARMIN_FAILING
    assert failure(SyncRun(status="error", message="needs login", error_kind=None)) is None  # before 0003
    assert failure(SyncRun(status="partial", error_kind=None)) is None


@pytest.mark.integration
def test_sync_wait_exits_3_when_the_account_needs_a_login(stack: Stack) -> None:
    stack.procs.worker("w1")
    forged = json.dumps({"di_token": "forged.jwt.value", "di_refresh_token": "nope", "di_client_id": "x"})
    imported = stack.cli.subprocess("--account", "forged", "login", "--tokens", forged)
    assert imported.returncode == 0, imported.stderr
    result = stack.cli.subprocess("--account", "forged", "sync", "--wait", "--json")
    assert result.returncode == 3, result.stderr
    assert "failed" in result.stderr and "Traceback" not in result.stderr
    run = stack.runs()[-1]
    assert (run.status, run.error_kind) == ("error", "auth")
