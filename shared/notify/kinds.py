"""The events a notification can be about, as a user names them in GARMINSYNC_NOTIFY_EVENTS."""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    NEW_ACTIVITIES = "new_activities"  # a run ended with new activities archived: one digest
    RUN_FAILED = "run_failed"
    LOGIN_NEEDED = "login_needed"  # Garmin refused the tokens: only an interactive login helps
    COOLDOWN = "cooldown"  # a 429 cool-down of at least GARMINSYNC_NOTIFY_COOLDOWN_MINUTES
    VERIFY_DAMAGE = "verify_damage"
    TOKEN_EXPIRING = "token_expiring"  # noqa: S105 (an event name)  within GARMINSYNC_TOKEN_WARN_DAYS
    TEST = "test"  # `garminsync notify test`, the dashboard's button: always on


CHOOSABLE = tuple(event.value for event in Event if event is not Event.TEST)
ALL_EVENTS: frozenset[str] = frozenset(CHOOSABLE)

LABELS = {
    Event.NEW_ACTIVITIES: "new activities",
    Event.RUN_FAILED: "run failed",
    Event.LOGIN_NEEDED: "login needed",
    Event.COOLDOWN: "rate-limit cool-down",
    Event.VERIFY_DAMAGE: "archive damage",
    Event.TOKEN_EXPIRING: "tokens expiring",
    Event.TEST: "test",
}


def label(event: str) -> str:
    try:
        return LABELS[Event(event)]
    except ValueError:
        return event
