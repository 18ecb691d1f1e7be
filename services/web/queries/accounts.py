"""The accounts the dashboard can show (the navigation's picker, `?account=NAME`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Account


def list_accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))


def account_by_name(session: Session, name: str) -> Account | None:
    return session.scalars(select(Account).where(Account.name == name)).first()
