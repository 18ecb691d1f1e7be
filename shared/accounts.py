"""Accounts and their tokens in the store.

The `.env` account (GARMIN_EMAIL / GARMINTOKENS) is the `default` account.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db import create_session
from shared.errors import AuthRequired, UsageError
from shared.models import Account, TokenState
from shared.notify import events
from shared.tokens import TokenCipher, Tokens, now_utc, read_token_source

DEFAULT_ACCOUNT = "default"


def get_or_create_account(
    session: Session, settings: Settings, name: str = DEFAULT_ACCOUNT, create: bool = False
) -> Account:
    """The named account; `default` (the `.env` account) is created on first use."""
    account = session.scalars(select(Account).where(Account.name == name)).first()
    if account is None:
        if name != DEFAULT_ACCOUNT and not create:
            raise UsageError(f"unknown account {name!r}; add it with `garminsync --account {name} login`")
        account = Account(name=name, email=settings.garmin_email, token_state=TokenState.NONE)
        session.add(account)
        session.flush()
    elif settings.garmin_email and name == DEFAULT_ACCOUNT and account.email != settings.garmin_email:
        account.email = settings.garmin_email
    return account


class AccountTokens:
    """One account's tokens in the database; each call is its own short session."""

    def __init__(self, settings: Settings, cipher: TokenCipher, account_id: int) -> None:
        self.settings = settings
        self.cipher = cipher
        self.account_id = account_id

    def load(self) -> Tokens | None:
        with create_session(self.settings.database_url) as session:
            account = session.get(Account, self.account_id)
            if account is None or account.token_blob is None:
                return None
            return Tokens.parse(self.cipher.decrypt(account.token_blob))

    def load_or_import(self) -> Tokens:
        """Tokens from the store, else imported once from GARMINTOKENS."""
        with create_session(self.settings.database_url) as session:
            account = session.get(Account, self.account_id)
            if account is None:
                raise UsageError(f"unknown account id {self.account_id}")
            if account.token_state == TokenState.NEEDS_LOGIN:
                raise AuthRequired(
                    f"account {account.name!r} needs `garminsync login`"
                    + (f" ({account.token_error})" if account.token_error else "")
                )
            if account.token_blob is not None:
                return Tokens.parse(self.cipher.decrypt(account.token_blob))
            is_default = account.name == DEFAULT_ACCOUNT
        if is_default:
            imported = read_token_source(self.settings.tokens_location)
            if imported is not None:
                self.save(imported)
                return imported
        raise AuthRequired("no Garmin tokens yet: run `garminsync login` first")

    def needs_login(self) -> bool:
        with create_session(self.settings.database_url) as session:
            account = session.get(Account, self.account_id)
            return account is not None and account.token_state == TokenState.NEEDS_LOGIN

    def save(self, tokens: Tokens, refresh_expires_at: datetime | None = None) -> None:
        """Store new tokens; `refresh_expires_at` from Garmin's answer, else the token's own `exp`."""
        with create_session(self.settings.database_url) as session:
            account = session.get(Account, self.account_id)
            if account is None:
                return
            account.token_blob = self.cipher.encrypt(tokens.raw)
            account.token_state = TokenState.VALID
            account.token_error = None
            account.token_updated_at = now_utc()
            account.refresh_expires_at = refresh_expires_at or tokens.refresh_expiry()

    def mark_needs_login(self, reason: str) -> None:
        """The account needs a login; the change (not each worker that meets it) is notified."""
        with create_session(self.settings.database_url) as session:
            changed = session.execute(
                update(Account)
                .where(Account.id == self.account_id, Account.token_state != TokenState.NEEDS_LOGIN)
                .values(token_state=TokenState.NEEDS_LOGIN, token_error=reason[:500])
            )
            if getattr(changed, "rowcount", 0):
                events.login_needed(session, self.account_id, reason)
            else:
                session.execute(
                    update(Account).where(Account.id == self.account_id).values(token_error=reason[:500])
                )

    def login_blocked_until(self) -> datetime | None:
        with create_session(self.settings.database_url) as session:
            account = session.get(Account, self.account_id)
            return account.login_blocked_until if account else None

    def block_logins(self, seconds: float) -> None:
        with create_session(self.settings.database_url) as session:
            account = session.get(Account, self.account_id)
            if account is not None:
                account.login_blocked_until = now_utc() + timedelta(seconds=seconds)
