"""Sync an account: open its run, then hand it to the workers or run it here.

The run exists before anything else happens, so whoever started it can
follow it (`runs.follow`), and a hand-off that fails ends it as `error`
with the kind of the failure.
"""

from __future__ import annotations

from shared.planning import Filters
from shared.runs import fail_run, open_run
from shared.runtime import Runtime
from shared.usecases.delivery import Delivery, Handed


def sync(
    runtime: Runtime,
    delivery: Delivery,
    account_id: int,
    trigger: str,
    *,
    full: bool = False,
    filters: Filters | None = None,
) -> Handed:
    """Refresh the account's list and archive what is missing (`filters` narrow the downloads)."""
    delivery.check()
    database_url = runtime.settings.database_url
    run_id = open_run(database_url, account_id, trigger, full)
    try:
        return delivery.sync(account_id, run_id, full, filters or Filters())
    except BaseException as exc:
        fail_run(database_url, run_id, exc)
        raise
