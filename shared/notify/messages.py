"""What a notification says: a title and a few plain lines per event.

Made from the facts its row recorded (`events`) and the account's name.
Names come from Garmin and may hold any character: each is one line of
printable text here. Never a URL or a token: the facts hold none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.garmin_values import clean_text
from shared.notify.kinds import Event

PREFIX = "GarminSync"


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str = "info"  # Apprise's notify type: info, success, warning, failure


def compose(event: str, account: str | None, detail: dict[str, Any], now: datetime | None = None) -> Message:
    who = f" ({clean_text(account, 64)})" if account else ""
    now = now or datetime.now(UTC)
    match Event(event):
        case Event.NEW_ACTIVITIES:
            return _digest(detail, who)
        case Event.RUN_FAILED:
            return _run_failed(detail, who, account)
        case Event.LOGIN_NEEDED:
            return Message(
                f"{PREFIX}: Garmin login needed{who}",
                f"Garmin refused the stored tokens: {_line(detail.get('reason'))}.\n"
                f"Log in again: {_login_hint(account)}. Syncs of this account wait until then; "
                "nothing is lost.",
                "failure",
            )
        case Event.COOLDOWN:
            minutes = max(1, round(int(detail.get("seconds") or 0) / 60))
            return Message(
                f"{PREFIX}: Garmin is rate-limiting{who}",
                f"Garmin answered 429 (too many requests): requests of this account pause for "
                f"{minutes} min. Nothing is lost; the work goes on after the pause. If this repeats, "
                "lower GARMINSYNC_RATE_LIMIT.",
                "warning",
            )
        case Event.VERIFY_DAMAGE:
            return _damage(detail, who, account)
        case Event.TOKEN_EXPIRING:
            return _expiring(detail, who, account, now)
        case Event.TEST:
            return Message(
                f"{PREFIX}: test notification{who}",
                f"Notifications from GarminSync reach this address ({now:%Y-%m-%d %H:%M} UTC).",
                "info",
            )


def _line(value: Any, limit: int = 200) -> str:
    return clean_text(value, limit) or "—"


def _login_hint(account: str | None) -> str:
    option = "" if account in (None, "default") else f"--account {account} "
    return f"`garminsync {option}login`, or the dashboard's Account page"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _activity_line(item: dict[str, Any]) -> str:
    parts = [str(item.get("start") or "").replace("T", " "), _line(item.get("name"), 120)]
    facts = [clean_text(item.get("type"), 40) or ""]
    if item.get("distance_m"):
        facts.append(f"{float(item['distance_m']) / 1000:.1f} km")
    if item.get("duration_s"):
        facts.append(f"{round(float(item['duration_s']) / 60)} min")
    shown = ", ".join(fact for fact in facts if fact)
    return "- " + " ".join(part for part in parts if part) + (f" ({shown})" if shown else "")


def _more(total: int, listed: int) -> list[str]:
    return [f"and {total - listed} more"] if total > listed else []


def _digest(detail: dict[str, Any], who: str) -> Message:
    downloaded = int(detail.get("downloaded") or 0)
    items = list(detail.get("items") or [])
    lines = [_activity_line(item) for item in items] + _more(downloaded, len(items))
    failed = int(detail.get("failed") or 0)
    if failed:
        lines.append(f"{_plural(failed, 'download')} failed: `garminsync list --all` shows which.")
    return Message(
        f"{PREFIX}: {downloaded} new {'activity' if downloaded == 1 else 'activities'}{who}",
        "\n".join(lines),
        "warning" if failed else "success",
    )


def _run_failed(detail: dict[str, Any], who: str, account: str | None) -> Message:
    hints = {
        "rate_limited": "Garmin is rate-limiting; the next sync continues.",
        "garmin_failing": "Garmin is failing (5xx or the network); the next sync continues.",
        "environment": "A setting, the data directory, the database or Redis needs a look.",
        "lost": "The sync's task was lost; the next sync continues.",
    }
    hint = hints.get(str(detail.get("kind")), "`garminsync status` and the dashboard show more.")
    return Message(
        f"{PREFIX}: sync failed{who}",
        f"{_line(detail.get('message'), 300)}\n{hint}",
        "failure",
    )


def _damage(detail: dict[str, Any], who: str, account: str | None) -> Message:
    total = int(detail.get("problems") or 0)
    items = list(detail.get("items") or [])
    lines = [f"- {item.get('activity_id')}: {_line(item.get('reason'))}" for item in items]
    lines += _more(total, len(items))
    option = "" if account in (None, "default") else f"--account {account} "
    lines.append(f"Run `garminsync {option}verify --repair` to download them again.")
    title = f"{PREFIX}: verify found {_plural(total, 'damaged file')}{who}"
    return Message(title, "\n".join(lines), "failure")


def _expiring(detail: dict[str, Any], who: str, account: str | None, now: datetime) -> Message:
    expires = datetime.fromisoformat(str(detail.get("expires_at")))
    expires = expires.replace(tzinfo=UTC) if expires.tzinfo is None else expires
    days = max(0, (expires - now).days)
    return Message(
        f"{PREFIX}: Garmin login needed by {expires:%Y-%m-%d}{who}",
        f"The stored Garmin tokens run out on {expires:%Y-%m-%d %H:%M} UTC (in {_plural(days, 'day')}); "
        f"after that only an interactive login helps. Log in again before then: {_login_hint(account)}.",
        "warning",
    )
