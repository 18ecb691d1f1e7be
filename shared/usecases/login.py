"""Logging in to Garmin: password and MFA, the back-off after a failure, token import.

The CLI asks for the MFA code at the terminal, the dashboard in a second
form; both go through `begin` and `submit_code`, so the back-off (one
failed login pauses logins for GARMINSYNC_LOGIN_BACKOFF) and the limit of
three codes per login are the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.db import create_session
from shared.errors import AuthRequired, RateLimited, StorageError, UsageError
from shared.garmin import Profile
from shared.models import Account
from shared.reports import as_utc
from shared.runtime import Runtime
from shared.tokens import read_token_source, write_token_file

MAX_CODE_TRIES = 3


@dataclass
class PendingLogin:
    """A login waiting for its MFA code; `state` holds Garmin's SSO session (keep it secret)."""

    account_id: int
    email: str
    state: dict[str, Any] = field(repr=False)
    tries: int = 0

    @property
    def exhausted(self) -> bool:
        """Too many wrong codes: this login is over (and logins are paused)."""
        return self.tries >= MAX_CODE_TRIES


@dataclass(frozen=True)
class LoggedIn:
    who: str
    token_file: Path | None = None  # where the tokens were mirrored (the default account)
    warning: str | None = None  # the login worked, but the token file could not be written


def ensure_allowed(runtime: Runtime, account_id: int) -> None:
    """RateLimited while logins are paused after a failure. The store keeps the end in UTC
    (SQLite hands it back naive), so it is compared with UTC, never the local clock."""
    blocked = as_utc(runtime.tokens(account_id).login_blocked_until())
    if blocked is not None and blocked > datetime.now(UTC):
        raise RateLimited(
            f"logins for this account are paused after a failed attempt until "
            f"{blocked:%H:%M:%S} UTC (GARMINSYNC_LOGIN_BACKOFF)"
        )


def begin(runtime: Runtime, account_id: int, email: str, password: str) -> LoggedIn | PendingLogin:
    """Log in; a `PendingLogin` when Garmin asks for an MFA code first."""
    ensure_allowed(runtime, account_id)
    gateway = runtime.gateway(_detached(runtime, account_id))
    try:
        profile, mfa_state = gateway.begin_login(email, password)
    except (AuthRequired, RateLimited):
        runtime.tokens(account_id).block_logins(runtime.settings.login_backoff_s)
        raise
    if mfa_state is not None:
        return PendingLogin(account_id, email, mfa_state)
    assert profile is not None
    return _complete(runtime, account_id, email, profile)


def submit_code(runtime: Runtime, pending: PendingLogin, code: str) -> LoggedIn:
    """Finish a login with its MFA code. A refused code counts a try; after the last one the
    login is over and logins are paused, as after a wrong password."""
    gateway = runtime.gateway(_detached(runtime, pending.account_id))
    try:
        profile = gateway.resume_login(pending.state, code)
    except AuthRequired:
        pending.tries += 1
        if pending.exhausted:
            runtime.tokens(pending.account_id).block_logins(runtime.settings.login_backoff_s)
            raise AuthRequired(
                "the MFA code was not accepted; too many tries, start the login again"
            ) from None
        raise
    return _complete(runtime, pending.account_id, pending.email, profile)


def import_tokens(runtime: Runtime, account_id: int, source: str) -> None:
    """Store garminconnect token JSON (inline, or a file or directory) instead of logging in."""
    tokens = read_token_source(source)
    if tokens is None:
        raise UsageError(f"no token file at {source}")
    runtime.tokens(account_id).save(tokens)


def _complete(runtime: Runtime, account_id: int, email: str, profile: Profile) -> LoggedIn:
    """Who logged in goes on the account; the default account's tokens also go to GARMINTOKENS."""
    with create_session(runtime.settings.database_url) as session:
        stored = session.get(Account, account_id)
        assert stored is not None
        stored.email = email
        stored.display_name = profile.display_name or stored.display_name
        stored.full_name = profile.full_name or stored.full_name
        stored.login_blocked_until = None
        is_default = stored.name == "default"
    who = profile.full_name or profile.display_name or email
    if not is_default:
        return LoggedIn(who)
    try:
        return LoggedIn(who, write_token_file(runtime.settings.tokens_location, profile.tokens))
    except StorageError as exc:
        return LoggedIn(
            who, warning=f"Tokens are stored in the database; the token file could not be written: {exc}"
        )


def _detached(runtime: Runtime, account_id: int) -> Account:
    with create_session(runtime.settings.database_url) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise UsageError(f"unknown account id {account_id}")
        session.expunge(account)
        return account
