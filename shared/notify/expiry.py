"""When the stored tokens need a new interactive login, and the warning days ahead.

garminconnect keeps only the token strings (`di_token`, `di_refresh_token`,
`di_client_id`); the access token's JWT carries its `exp`, the refresh
token's lifetime comes with Garmin's token answer (`refresh_token_expires_in`)
and is dropped by the library. The gateway reads it from that answer
(`shared.garmin`) and the account keeps it (`accounts.refresh_expires_at`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.db import create_session
from shared.models import Account, TokenState
from shared.notify import events


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def expiry(expires_at: datetime | None, warn_days: int, now: datetime | None = None) -> dict[str, Any] | None:
    """What `status` and the account page show: the date, the days left, whether to warn."""
    moment = as_utc(expires_at)
    if moment is None:
        return None
    now = now or datetime.now(UTC)
    days = (moment - now).total_seconds() / 86400
    return {
        "expires_at": moment.isoformat(timespec="seconds"),
        "days_left": max(0, int(days)),
        "expired": days <= 0,
        "warn": days <= warn_days,
    }


def warn_if_due(database_url: str, account_id: int, warn_days: int, now: datetime | None = None) -> bool:
    """Record a `token_expiring` notice when the login is due within `warn_days` (once a day)."""
    now = now or datetime.now(UTC)
    with create_session(database_url) as session:
        account = session.get(Account, account_id)
        if account is None or account.token_state != TokenState.VALID:
            return False
        moment = as_utc(account.refresh_expires_at)
        if moment is None or (moment - now).total_seconds() > warn_days * 86400:
            return False
        return events.token_expiring(session, account_id, moment, now)
