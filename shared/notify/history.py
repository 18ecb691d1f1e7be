"""The deliveries as `status`, `notify show` and the dashboard show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.errors import ConfigError
from shared.models import Account, Notification
from shared.notify.delivery import FAILED, account_urls
from shared.notify.expiry import as_utc
from shared.notify.kinds import label
from shared.notify.urls import shown
from shared.tokens import TokenCipher

RECENT = 10


def iso(moment: datetime | None) -> str | None:
    utc = as_utc(moment)
    return utc.isoformat(timespec="seconds") if utc else None


def recent_deliveries(session: Session, account_id: int | None, limit: int = RECENT) -> list[dict[str, Any]]:
    """The last notifications of the account (and those of no account), newest first."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where((Notification.account_id == account_id) | Notification.account_id.is_(None))
    return [notification_dict(row) for row in session.scalars(query)]


def notification_dict(row: Notification) -> dict[str, Any]:
    """A delivery as shown: never a URL beyond its scheme and host."""
    return {
        "id": row.id,
        "event": row.event,
        "label": label(row.event),
        "status": row.status,
        "attempts": row.attempts,
        "title": row.title,
        "targets": row.targets,
        "error": row.error,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
        "updated_at": iso(row.updated_at),
    }


def overview(
    session: Session, settings: Settings, cipher: TokenCipher, account_id: int, limit: int = RECENT
) -> dict[str, Any]:
    """Where the account's notifications go (shown form), which events are on, the last deliveries."""
    problem = None
    try:
        own = [shown(url) for url in account_urls(cipher, session.get(Account, account_id))]
    except ConfigError as exc:
        own, problem = [], str(exc)
    recent = recent_deliveries(session, account_id, limit)
    return {
        "targets": [shown(url) for url in settings.notify_urls],
        "account_targets": own,
        "problem": problem,
        "events": sorted(settings.notify_events),
        "cooldown_minutes": settings.notify_cooldown_minutes,
        "token_warn_days": settings.token_warn_days,
        "recent": recent,
        "failed": sum(1 for row in recent if row["status"] == FAILED),
    }
