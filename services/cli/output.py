"""What the CLI prints: the two consoles, stored text made inert, and every command's rendering.

Names, messages and paths come from Garmin, the store or the user. Printed
through Rich they would be read as markup (`[/tempo]` is an error, `[link=…]`
a hidden hyperlink), and escape sequences or right-to-left overrides in them
would reach the terminal. Every such value goes through `safe()`; JSON output
is cleaned the same way (`shared.garmin_values`). Results go to stdout,
progress and notes to stderr.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from shared.archive import Outcome
from shared.fit_deep import DESCRIPTIONS
from shared.garmin_values import clean_json, strip_controls
from shared.inprocess import Progress
from shared.models import SyncRun
from shared.schedules import ScheduleView
from shared.usecases.prune import Pruned
from shared.usecases.schedule import Mirror
from shared.verify import Problem, Tally

# Pipes and files get whole lines; a terminal gets its own width.
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

STATES_SHOWN = ("downloaded", "missing", "queued", "downloading", "failed", "no_file")
MIRROR_NOTES = {
    Mirror.ACTIVE: "active in beat",
    Mirror.NO_BEAT: "no REDIS_URL: schedules run only with Redis and `garminsync beat`",
    Mirror.LATER: "Redis unreachable: beat will apply it when Redis is back",
}


def safe(value: object) -> str:
    """Any value as literal text: no Rich markup, no control or bidi-override characters."""
    return escape(strip_controls(str(value)))


def print_json(data: Any) -> None:
    """JSON on stdout, its strings without control characters, non-finite numbers null."""
    out.print_json(data=clean_json(data))


def bar(verbose: bool) -> RichProgress:
    """A progress bar on stderr: shown on a terminal (or with --verbose), silent in a pipe."""
    return RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and not verbose,
    )


class DownloadBar(Progress):
    """In-process work as the CLI shows it: a note while listing, a bar over the downloads,
    one red line per failure. A context manager: the bar closes with the block."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self._bar: RichProgress | None = None
        self._task: Any = None

    def listing(self) -> None:
        err.print("Refreshing the activity list from Garmin…")

    def listed(self, downloads: int) -> None:
        if downloads:
            self._bar = bar(self.verbose)
            self._bar.start()
            self._task = self._bar.add_task("Downloading", total=downloads)

    def settled(self, outcome: Outcome) -> None:
        if self._bar is None:
            return
        if outcome.status == "failed":
            self._bar.console.print(f"[red]failed[/red] {outcome.activity_id}: {safe(outcome.message)}")
        self._bar.advance(self._task)

    def __enter__(self) -> DownloadBar:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()


def activity_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "start (UTC)", "type", "name", "state", "formats", "file"):
        table.add_column(column)
    for row in rows:
        cells = (row["id"], row["start_time"][:16].replace("T", " "), row["type"], row["name"])
        state = row["state"] + (" (deleted on Garmin)" if row["deleted_upstream"] else "")
        formats = ",".join(row.get("formats") or ())
        table.add_row(*(safe(cell or "") for cell in (*cells, state, formats, row["file_path"])))
    out.print(table)
    err.print(f"{len(rows)} activities")


def sync_report(run: SyncRun | None, run_id: int, counts: Counter[str], data_dir: str, as_json: bool) -> None:
    """What a sync found and what its downloads came to."""
    data = {
        "run_id": run_id,
        "status": run.status if run else None,
        "list_requests": run.list_requests if run else None,
        "found": run.found if run else 0,
        "new": run.new if run else 0,
        "updated": run.updated if run else 0,
        "changed": run.changed if run else 0,
        "deleted": run.deleted if run else 0,
        "downloaded": counts["downloaded"],
        "already": counts["already"],
        "no_file": counts["no_file"],
        "failed": counts["failed"],
        "deferred": counts["deferred"],
        "data_dir": data_dir,
    }
    if as_json:
        print_json(data)
        return
    upstream = ", ".join(
        f"{data[key]} {word}"
        for key, word in (("updated", "renamed or retyped"), ("changed", "changed"), ("deleted", "deleted"))
        if data[key]
    )
    out.print(
        f"Garmin's list: {data['found']} checked, {data['new']} new"
        f"{', ' + upstream if upstream else ''} "
        f"({data['list_requests']} request(s)). Downloaded {data['downloaded']}, "
        f"no file {data['no_file']}, failed {data['failed']}, deferred {data['deferred']}. "
        f"Files in {safe(data['data_dir'])}."
    )


def sync_queued(run_id: int, task_id: str | None, as_json: bool) -> None:
    if as_json:
        print_json({"run_id": run_id, "task_id": task_id, "status": "queued"})
    else:
        out.print(
            f"Queued sync run #{run_id} (task {task_id}). Follow it with `garminsync status` or --wait."
        )


def download_counts(counts: Counter[str], as_json: bool) -> None:
    if as_json:
        print_json(dict(counts))
    else:
        out.print(", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "nothing to do")


def status(report: dict[str, Any]) -> None:
    counts, account = report["counts"], report["account"]
    who = account["display_name"] or account["email"] or "not logged in"
    out.print(
        f"[bold]Account[/bold] {safe(account['name'])} ({safe(who)}) — tokens: {account['token_state']}"
    )
    listed = ", ".join(f"{state} {counts.get(state, 0)}" for state in STATES_SHOWN)
    out.print(f"[bold]Activities[/bold] {report['total']}: {listed}")
    if report["deleted_on_garmin"]:
        out.print(
            f"[bold]Deleted on Garmin[/bold] {report['deleted_on_garmin']}, kept in the archive "
            "(`list --deleted`; `prune --deleted` removes them)"
        )
    last = report["last_run"]
    if last:
        out.print(
            f"[bold]Last sync[/bold] #{last['id']} {last['status']} at {last['started_at']}: "
            f"{safe(last['message'] or '')}"
        )
    backlog = report["backlog"]
    if backlog["waiting"] or backlog["published"]:
        out.print(
            f"[bold]Backlog[/bold] {backlog['waiting'] + backlog['published']} to download at "
            f"{report['rate_limit']} (about {duration(backlog['eta_s'])}): {backlog['published']} "
            f"with the workers, {backlog['waiting']} waiting for the budget"
        )
    if report["cooldown_s"]:
        out.print(f"[yellow]Garmin cool-down: {report['cooldown_s']:.0f}s left[/yellow]")
    out.print(
        f"[bold]Data[/bold] {safe(report['data_dir'])}  [bold]Database[/bold] {safe(report['database'])}  "
        f"[bold]Mode[/bold] {report['mode']}"
    )


def duration(seconds: float) -> str:
    """`45 s`, `12 min`, `5 h 30 min`: a person's reading of an estimate."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def problems(
    checked: int, found: list[Problem], as_json: bool, tally: Tally | None = None, seconds: float = 0.0
) -> None:
    """The problems found; with --deep, how many FIT files passed, failed or skipped each check."""
    if as_json:
        data: dict[str, Any] = {"checked": checked, "problems": [p.__dict__ for p in found]}
        if tally is not None:
            data["deep"] = {"fit_files": tally.files, "checks": tally.as_dict()}
        print_json(data)
        return
    for problem in found:
        out.print(f"[red]{problem.activity_id}[/red] {safe(problem.path)}: {safe(problem.reason)}")
    if tally is not None:
        deep_table(tally, seconds)
    out.print(f"Checked {checked} files: {len(found)} problem(s).")


def deep_table(tally: Tally, seconds: float) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold", title=f"Deep checks of {tally.files} FIT file(s)")
    for column in ("check", "passed", "failed", "skipped", "what it checks"):
        table.add_column(column, justify="right" if column in ("passed", "failed", "skipped") else "left")
    for name, counts in tally.as_dict().items():
        failed = f"[red]{counts['failed']}[/red]" if counts["failed"] else "0"
        table.add_row(name, str(counts["passed"]), failed, str(counts["skipped"]), DESCRIPTIONS[name])
    out.print(table)
    if seconds > 0 and tally.files:
        err.print(f"{tally.files / seconds:.1f} FIT files/s")


def pruned(result: Pruned, as_json: bool) -> None:
    if as_json:
        print_json({"pruned": result.done, "activity_ids": result.activity_ids, "files": result.files})
        return
    count = len(result.activity_ids)
    if result.done:
        out.print(f"Removed {count} activities deleted on Garmin ({result.files} file(s)).")
    elif count:
        out.print(f"{count} activities deleted on Garmin ({result.files} file(s)) would be removed:")
        out.print(" ".join(str(activity_id) for activity_id in result.activity_ids))
        err.print("Run `garminsync prune --deleted --yes` to remove them.")
    else:
        out.print("No activity deleted on Garmin: nothing to prune.")


def schedule(view: ScheduleView, note: str) -> None:
    state = "enabled" if view.enabled else "disabled"
    label = "Reconcile" if view.kind == "reconcile" else "Schedule"
    out.print(f"{label}: [bold]{safe(view.cron)}[/bold] — {safe(view.description)} — {state} ({safe(note)})")
    if view.error:
        out.print(f"[yellow]{safe(view.error)}[/yellow]")
    for moment in view.next_runs if view.enabled else []:
        out.print(f"  next: {moment.isoformat()}")
