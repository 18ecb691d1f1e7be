"""Sending one message to a list of Apprise URLs; what went wrong as one line without secrets."""

from __future__ import annotations

from dataclasses import dataclass

from shared.notify.messages import Message
from shared.notify.urls import quiet_apprise, scrub, secrets_of, shown

TIMEOUT_S = 20.0  # the whole call: a hanging endpoint must not hold a worker (or the CLI) long


@dataclass(frozen=True)
class Sent:
    ok: bool
    error: str | None = None  # one line, secrets removed


def send(urls: list[str], message: Message, timeout_s: float = TIMEOUT_S) -> Sent:
    """Send to every URL; ok only when each accepted it."""
    quiet_apprise()
    from apprise import Apprise

    secrets = secrets_of(urls)
    apprise = Apprise()
    for url in urls:
        if not apprise.add(url):
            return Sent(False, f"{shown(url)}: not a notification URL Apprise understands")
    try:
        result = apprise.notify(
            body=message.body, title=message.title, notify_type=message.kind, timeout=timeout_s
        )
    except Exception as exc:  # a plugin's bug must not end the caller
        return Sent(False, scrub(f"{type(exc).__name__}: {exc}", secrets)[:300])
    if result:
        return Sent(True)
    failures = []
    for service in result:
        if service:
            continue
        entries = [entry.message for entry in service.logs() if entry.level in ("WARNING", "ERROR")]
        reason = entries[-1] if entries else str(getattr(service.status, "name", "failed")).lower()
        failures.append(f"{shown(service.url)}: {reason}")
    line = "; ".join(failures) or f"delivery failed ({getattr(result.status, 'name', 'failure')})"
    return Sent(False, scrub(" ".join(line.split()), secrets)[:500])
