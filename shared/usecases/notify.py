"""Notifications as a person handles them: send a test, set an account's URLs, see the
deliveries. The CLI (`garminsync notify …`, `status`) and the dashboard's Account page
call these.
"""

from __future__ import annotations

from typing import Any

from shared.db import create_session
from shared.errors import ConfigError, DeliveryFailed, UsageError
from shared.models import Account, Notification
from shared.notify import events, history
from shared.notify.delivery import SENT, deliver, urls_for
from shared.notify.history import RECENT, notification_dict
from shared.notify.kinds import Event
from shared.notify.urls import check_urls, shown, split_urls
from shared.runtime import Runtime

MAX_ACCOUNT_URLS_CHARS = 4000


def send_test(runtime: Runtime, account_id: int) -> dict[str, Any]:
    """Send one test notification now, from this process, and record it with the others.

    ConfigError when no URL is set; DeliveryFailed (with the reason, without secrets)
    when the endpoint did not take it.
    """
    settings = runtime.settings
    with create_session(settings.database_url) as session:
        account = session.get(Account, account_id)
        if not urls_for(settings, runtime.cipher, account):
            raise ConfigError(
                "no notification URL is set: put Apprise URLs in GARMINSYNC_NOTIFY_URLS "
                "(or the account's own on the dashboard's Account page)"
            )
        row = events.record(session, Event.TEST, account_id)
        row.status = "queued"  # sent here and now: no relay or flush takes it
        notification_id = row.id
    outcome = deliver(settings, runtime.cipher, notification_id, final=True)
    with create_session(settings.database_url) as session:
        stored = session.get(Notification, notification_id)
        shown_row = notification_dict(stored) if stored is not None else {"status": outcome}
    if outcome != SENT:
        raise DeliveryFailed(f"the test notification was not delivered: {shown_row.get('error') or outcome}")
    return shown_row


def set_account_urls(runtime: Runtime, account_id: int, text: str | None) -> list[str]:
    """Replace the account's own URLs (empty: remove them); what may be shown of them."""
    urls = split_urls(text)
    if text and len(text) > MAX_ACCOUNT_URLS_CHARS:
        raise UsageError(f"the notification URLs are too long (at most {MAX_ACCOUNT_URLS_CHARS} characters)")
    if text and text.strip() and not urls:
        raise UsageError("no notification URL found in what was entered")
    try:
        check_urls(urls, "notification URL")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    with create_session(runtime.settings.database_url) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise UsageError(f"unknown account id {account_id}")
        account.notify_urls_blob = runtime.cipher.encrypt(" ".join(urls)) if urls else None
    return [shown(url) for url in urls]


def overview(runtime: Runtime, account_id: int, limit: int = RECENT) -> dict[str, Any]:
    """Where the account's notifications go (shown form), which events are on, the last deliveries."""
    with create_session(runtime.settings.database_url) as session:
        return history.overview(session, runtime.settings, runtime.cipher, account_id, limit)
