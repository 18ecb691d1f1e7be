"""The deliveries as `status`, `notify show` and the dashboard show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Notification
from shared.notify.expiry import as_utc
from shared.notify.kinds import label

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
