"""Rendering the notifications (`notify show`, `notify test`, the lines `status` adds) and
when the tokens need a new login. URLs only ever appear in their shown form (scheme, host)."""

from __future__ import annotations

from typing import Any

from .output import out, safe


def token_expiry(expiry: dict[str, Any] | None) -> None:
    """`Tokens need a new login by 2026-03-01 (in 12 days)`; yellow when within the warning days."""
    if expiry is None:
        return
    day = expiry["expires_at"][:10]
    if expiry["expired"]:
        out.print(f"[red]Tokens expired on {day}: run `garminsync login`[/red]")
        return
    line = f"Tokens need a new login by {day} (in {expiry['days_left']} days)"
    out.print(f"[yellow]{line}[/yellow]" if expiry["warn"] else f"[bold]Tokens[/bold] {line[7:]}")


def overview(view: dict[str, Any]) -> None:
    targets = view["targets"] + view["account_targets"]
    if not targets:
        out.print("[bold]Notifications[/bold] off (no GARMINSYNC_NOTIFY_URLS)")
    else:
        events = ", ".join(view["events"]) or "none"
        out.print(f"[bold]Notifications[/bold] to {safe(', '.join(targets))}; events: {events}")
    if view.get("problem"):
        out.print(f"[red]{safe(view['problem'])}[/red]")


def deliveries(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        colour = {"sent": "green", "failed": "red"}.get(row["status"], "yellow")
        when = row["sent_at"] or row["updated_at"] or row["created_at"]
        line = f"[{colour}]{row['status']:<7}[/{colour}] {when} {safe(row['label'])}"
        if row["title"]:
            line += f": {safe(row['title'])}"
        if row["error"]:
            line += f" — [red]{safe(row['error'])}[/red]"
        out.print(line)


def last_failure(rows: list[dict[str, Any]]) -> None:
    """`status`: the newest delivery, if it failed."""
    failed = [row for row in rows if row["status"] == "failed"]
    if rows and failed and failed[0]["id"] == rows[0]["id"]:
        row = failed[0]
        out.print(f"[red]Last notification failed[/red] ({safe(row['label'])}): {safe(row['error'] or '')}")
