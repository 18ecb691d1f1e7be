"""Delivering recorded notifications: by a worker's task, or inline in embedded mode.

`deliver` sends one row and is safe to run twice (a re-delivered task finds
it sent). What to send where is decided here, from the settings of the
process that delivers: an event turned off, or no URL for its account, and
the row is dropped — nothing is sent and nothing shows. The workers'
dispatcher `relay`s pending rows to the `garminsync.notify` task (its own
queue, so a notification never waits behind downloads); the embedded mode
`flush_here`es them at the end of its work.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.db import create_session
from shared.errors import ConfigError
from shared.models import Account, Notification
from shared.notify.kinds import Event
from shared.notify.messages import Message, compose
from shared.notify.sender import send
from shared.notify.urls import shown, split_urls
from shared.tokens import TokenCipher

log = logging.getLogger(__name__)

PENDING, QUEUED, SENT, FAILED = "pending", "queued", "sent", "failed"
RELAY_BATCH = 200
STALE_QUEUED = timedelta(hours=3)  # a queued row whose task never ended (Redis lost it)
INLINE_ATTEMPTS = 2
INLINE_PAUSE_S = 1.0


@dataclass(frozen=True)
class Plan:
    urls: list[str]
    message: Message

    @property
    def targets(self) -> str:
        return ", ".join(shown(url) for url in self.urls)[:1024]


def account_urls(cipher: TokenCipher, account: Account | None) -> list[str]:
    """An account's own URLs, decrypted."""
    if account is None or account.notify_urls_blob is None:
        return []
    try:
        return split_urls(cipher.decrypt(account.notify_urls_blob))
    except ConfigError:
        raise ConfigError(
            f"the notification URLs of account {account.name!r} cannot be decrypted "
            "(GARMINSYNC_SECRET_KEY changed?): set them again on the Account page"
        ) from None


def urls_for(settings: Settings, cipher: TokenCipher, account: Account | None) -> list[str]:
    """GARMINSYNC_NOTIFY_URLS and the account's own, each once."""
    return list(dict.fromkeys([*settings.notify_urls, *account_urls(cipher, account)]))


def plan(session: Session, settings: Settings, cipher: TokenCipher, row: Notification) -> Plan | None:
    """Where and what to send; None when the event is off or nobody is to be told."""
    if row.event != Event.TEST.value and row.event not in settings.notify_events:
        return None
    account = session.get(Account, row.account_id) if row.account_id is not None else None
    urls = urls_for(settings, cipher, account)
    if not urls:
        return None
    detail: dict[str, Any] = json.loads(row.detail or "{}")
    return Plan(urls, compose(row.event, account.name if account else None, detail))


def deliver(settings: Settings, cipher: TokenCipher, notification_id: int, *, final: bool) -> str:
    """Send one notification: `sent`, `failed` (given up), `retry`, `skipped` (dropped) or `gone`."""
    with create_session(settings.database_url) as session:
        row = session.get(Notification, notification_id)
        if row is None:
            return "gone"
        if row.status in (SENT, FAILED):
            return row.status  # a second delivery of the same task
        try:
            planned = plan(session, settings, cipher, row)
        except ConfigError as exc:
            row.attempts += 1
            row.status, row.error = FAILED, str(exc)
            return FAILED
        if planned is None:
            session.delete(row)
            return "skipped"
        row.attempts += 1
        row.title = planned.message.title[:255]
        row.targets = planned.targets
    outcome = send(planned.urls, planned.message)
    with create_session(settings.database_url) as session:
        row = session.get(Notification, notification_id)
        if row is None:
            return "gone"
        if outcome.ok:
            row.status, row.error, row.sent_at = SENT, None, datetime.now(UTC)
            return SENT
        row.error = outcome.error
        if final:
            row.status = FAILED
            return FAILED
    return "retry"


def relay(settings: Settings, cipher: TokenCipher, publish: Callable[[list[int]], None]) -> int:
    """Queue pending notifications (and queued ones whose task was lost) for the workers."""
    stale = datetime.now(UTC) - STALE_QUEUED
    with create_session(settings.database_url) as session:
        rows = session.scalars(
            select(Notification)
            .where(
                or_(
                    Notification.status == PENDING,
                    (Notification.status == QUEUED) & (Notification.updated_at < stale),
                )
            )
            .order_by(Notification.id)
            .limit(RELAY_BATCH)
        ).all()
        ids: list[int] = []
        for row in rows:
            if _drop_unwanted(session, settings, cipher, row):
                continue
            row.status = QUEUED
            row.updated_at = datetime.now(UTC)
            ids.append(row.id)
    if not ids:
        return 0
    try:
        publish(ids)
    except Exception:
        with create_session(settings.database_url) as session:
            session.execute(update(Notification).where(Notification.id.in_(ids)).values(status=PENDING))
        raise
    return len(ids)


def _drop_unwanted(session: Session, settings: Settings, cipher: TokenCipher, row: Notification) -> bool:
    try:
        if plan(session, settings, cipher, row) is not None:
            return False
    except ConfigError:
        return False  # the task records why it cannot be sent
    session.delete(row)
    return True


def flush_here(settings: Settings, cipher: TokenCipher, sleep: Callable[[float], None] = time.sleep) -> int:
    """Embedded mode: send every pending notification now, in this thread; how many were sent.

    Each is claimed first (pending → queued), so a CLI and the dashboard's
    runner never send the same one twice.
    """
    with create_session(settings.database_url) as session:
        ids = list(
            session.scalars(
                select(Notification.id).where(Notification.status == PENDING).order_by(Notification.id)
            )
        )
    sent = 0
    for notification_id in ids:
        with create_session(settings.database_url) as session:
            claimed = session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.status == PENDING)
                .values(status=QUEUED)
            )
            if not getattr(claimed, "rowcount", 0):
                continue
        for attempt in range(1, INLINE_ATTEMPTS + 1):
            outcome = deliver(settings, cipher, notification_id, final=attempt == INLINE_ATTEMPTS)
            if outcome == FAILED:
                log.warning("notification %s not delivered (see `garminsync notify show`)", notification_id)
            if outcome != "retry":
                sent += outcome == SENT
                break
            sleep(INLINE_PAUSE_S)
    return sent
