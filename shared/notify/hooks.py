"""Where the rest of the system tells the notifications something (wired by `shared.runtime`)."""

from __future__ import annotations

import logging
from uuid import uuid4

from shared.config import Settings
from shared.coordination import Coordinator
from shared.db import create_session
from shared.notify import events
from shared.notify.delivery import flush_here
from shared.notify.kinds import Event
from shared.tokens import TokenCipher

log = logging.getLogger(__name__)

COOLDOWN_NOTICE_EVERY_MS = 3600 * 1000  # Garmin may keep an account cooling for hours: once an hour


def cooldown_started(
    settings: Settings, coordinator: Coordinator, cipher: TokenCipher, key: str, seconds: float
) -> None:
    """A 429 put `key` (`account-<id>`) in a cool-down of `seconds`: tell if it is long.

    One notice per account per hour, whichever worker saw the 429 first (a lease
    in the shared coordinator). Never raises: a request's bookkeeping must go on.
    """
    if seconds < settings.notify_cooldown_minutes * 60 or Event.COOLDOWN not in settings.notify_events:
        return
    try:
        account_id = int(key.rsplit("-", 1)[1])
        if not coordinator.hold_lease(f"notified-cooldown:{key}", uuid4().hex, COOLDOWN_NOTICE_EVERY_MS):
            return
        with create_session(settings.database_url) as session:
            events.cooldown_started(session, account_id, seconds)
        if settings.embedded:
            flush_here(settings, cipher)
    except Exception as exc:
        log.warning("could not record the cool-down notification: %s", exc)


def flush_quietly(settings: Settings, cipher: TokenCipher) -> None:
    """Embedded mode, at the end of a job: send what is pending; a failure is a warning only."""
    try:
        flush_here(settings, cipher)
    except Exception as exc:
        log.warning("notifications not sent: %s", str(exc).splitlines()[0][:200] if str(exc) else exc)
