"""`garminsync`: the command line.

Commands only read the store and hand work on: in embedded mode (no
REDIS_URL) they run the jobs in-process, with Redis they enqueue them. The
only command that talks to Garmin itself is `login`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.orm import Session

from services.cli import exit_codes
from services.cli.bootstrap import App, setup_logging, start
from services.cli.exit_codes import handled
from services.cli.output import err, out, print_json, safe
from shared import jobs
from shared.archive import Outcome
from shared.db import create_session
from shared.errors import AuthRequired, GarminSyncError, RateLimited, UsageError
from shared.garmin_values import MAX_ACTIVITY_ID
from shared.listing import refresh_listing
from shared.models import Account
from shared.planning import Filters
from shared.reports import activity_rows, find_run, status_report
from shared.runs import fail_run
from shared.tokens import read_token_source, write_token_file
from shared.verify import Problem, count_downloaded, mark_for_redownload, verify_archive

app = typer.Typer(
    name="garminsync",
    help="Keep a complete, verified archive of your Garmin Connect activities as FIT files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_options: dict[str, Any] = {"account": "default", "verbose": False}
MAX_ROWS = 1_000_000_000  # beyond it a number is a typo, and beyond 2^63 the database overflows

DateOpt = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD, inclusive.", show_default=False),
]


@app.callback()
def _global(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Full logs and tracebacks.")] = False,
    account: Annotated[str, typer.Option(help="Which account (default: the .env account).")] = "default",
) -> None:
    _options["verbose"] = verbose
    _options["account"] = account
    setup_logging(verbose)


def _filters(since: datetime | None, until: datetime | None, activity_type: str | None) -> Filters:
    since_d: date | None = since.date() if since else None
    until_d: date | None = until.date() if until else None
    if since_d and until_d and since_d > until_d:
        raise UsageError(f"--since {since_d} is after --until {until_d}")
    return Filters(since=since_d, until=until_d, activity_type=activity_type)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal and not _options["verbose"],
    )


# --- login ---------------------------------------------------------------------


@app.command()
@handled
def login(
    email: Annotated[str | None, typer.Option(help="Garmin email (default: GARMIN_EMAIL).")] = None,
    tokens: Annotated[
        str | None,
        typer.Option(help="Import garminconnect token JSON (inline or a path) instead of logging in."),
    ] = None,
) -> None:
    """Log in to Garmin (asks for an MFA code when Garmin wants one) and store the tokens."""
    ctx = start(_options["account"], create=True)
    store = ctx.runtime.tokens(ctx.account_id)
    if tokens is not None:
        imported = read_token_source(tokens)
        if imported is None:
            raise UsageError(f"no token file at {tokens}")
        store.save(imported)
        out.print("Tokens imported and stored, encrypted, in the database.")
        return
    settings = ctx.settings
    email = email or settings.garmin_email
    password = settings.garmin_password
    if not email or not password:
        if not sys.stdin.isatty():
            raise AuthRequired(
                "missing credentials: set GARMIN_EMAIL and GARMIN_PASSWORD in .env "
                "or run `garminsync login` in a terminal"
            )
        email = email or typer.prompt("Garmin email")
        password = password or typer.prompt("Garmin password", hide_input=True)
    blocked = store.login_blocked_until()
    if blocked and blocked > datetime.now(blocked.tzinfo):
        raise RateLimited(
            f"logins for this account are paused after a failed attempt until "
            f"{blocked:%H:%M:%S} UTC (GARMINSYNC_LOGIN_BACKOFF)"
        )
    with create_session(settings.database_url) as session:
        account = session.get(Account, ctx.account_id)
        assert account is not None
        session.expunge(account)
    gateway = ctx.runtime.gateway(account)
    try:
        profile = gateway.login(email, password, prompt_mfa=lambda: typer.prompt("MFA code"))
    except (AuthRequired, RateLimited):
        store.block_logins(settings.login_backoff_s)
        raise
    token_file = None
    if ctx.account_name == "default":
        token_file = write_token_file(settings.tokens_location, profile.tokens)
    with create_session(settings.database_url) as session:
        stored = session.get(Account, ctx.account_id)
        assert stored is not None
        stored.email = email
        stored.display_name = profile.display_name or stored.display_name
        stored.full_name = profile.full_name or stored.full_name
        stored.login_blocked_until = None
    where = f" and in {token_file} (0600)" if token_file else ""
    out.print(
        f"Logged in as {safe(profile.full_name or profile.display_name or email)}. "
        f"Tokens stored, encrypted, in the database{safe(where)}."
    )


# --- list ----------------------------------------------------------------------


@app.command("list")
@handled
def list_activities(
    all_: Annotated[bool, typer.Option("--all", help="Every activity (the default).")] = False,
    missing: Annotated[bool, typer.Option("--missing", help="Not archived yet.")] = False,
    downloaded: Annotated[bool, typer.Option("--downloaded", help="Archived.")] = False,
    offline: Annotated[bool, typer.Option(help="Only the local store: no request to Garmin.")] = False,
    since: DateOpt = None,
    until: DateOpt = None,
    activity_type: Annotated[str | None, typer.Option("--type", help="e.g. running.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    limit: Annotated[int | None, typer.Option(min=1, max=MAX_ROWS, help="At most this many rows.")] = None,
) -> None:
    """List activities, refreshing the list from Garmin first unless --offline."""
    if sum((all_, missing, downloaded)) > 1:
        raise UsageError("choose one of --all, --missing, --downloaded")
    filters = _filters(since, until, activity_type)
    ctx = start(_options["account"])
    if not offline:
        _refresh(ctx)
    which = "missing" if missing else "downloaded" if downloaded else "all"
    rows = activity_rows(ctx.settings.database_url, ctx.account_id, which, filters, limit)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "start (UTC)", "type", "name", "state", "file"):
        table.add_column(column)
    for row in rows:
        cells = (row["id"], row["start_time"][:16].replace("T", " "), row["type"], row["name"])
        table.add_row(*(safe(cell or "") for cell in (*cells, row["state"], row["file_path"])))
    out.print(table)
    err.print(f"{len(rows)} activities")


def _refresh(ctx: App) -> None:
    with create_session(ctx.settings.database_url) as session:
        account = session.get(Account, ctx.account_id)
        assert account is not None
        session.expunge(account)
    refresh_listing(
        ctx.settings.database_url, ctx.runtime.gateway(account), ctx.account_id, ctx.settings.page_size
    )


# --- download / sync -------------------------------------------------------------


@app.command()
@handled
def download(
    activity_ids: Annotated[
        list[int] | None, typer.Argument(min=1, max=MAX_ACTIVITY_ID, help="Specific activity ids.")
    ] = None,
    missing: Annotated[bool, typer.Option("--missing", help="Everything not archived yet.")] = False,
    since: DateOpt = None,
    until: DateOpt = None,
    activity_type: Annotated[str | None, typer.Option("--type", help="e.g. running.")] = None,
    wait: Annotated[bool, typer.Option(help="With Redis: follow the run until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout.")] = False,
) -> None:
    """Refresh the list from Garmin, then download what is missing."""
    if not missing and not activity_ids:
        raise UsageError("say what to download: --missing, or activity ids")
    if missing and activity_ids:
        raise UsageError("give either --missing or activity ids, not both")
    filters = _filters(since, until, activity_type)
    ctx = start(_options["account"])
    ctx.runtime.storage.check_writable()
    if activity_ids:
        raise typer.Exit(_download_ids(ctx, activity_ids, wait, as_json))
    raise typer.Exit(_run_sync(ctx, full=False, filters=filters, wait=wait, as_json=as_json))


@app.command()
@handled
def sync(
    full: Annotated[bool, typer.Option(help="Walk the whole history; notice deletions.")] = False,
    wait: Annotated[bool, typer.Option(help="With Redis: follow the run until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout.")] = False,
) -> None:
    """Sync the account: refresh the list, then archive every missing activity."""
    ctx = start(_options["account"])
    ctx.runtime.storage.check_writable()
    raise typer.Exit(_run_sync(ctx, full=full, filters=Filters(), wait=wait, as_json=as_json))


def _run_sync(ctx: App, *, full: bool, filters: Filters, wait: bool, as_json: bool) -> int:
    account_id, run_id = jobs.open_run(ctx.runtime, ctx.account_name, "cli", full)
    if not ctx.settings.embedded:
        from services.worker.dispatch import enqueue_sync

        try:
            task_id = enqueue_sync(account_id, run_id, full, filters)
        except GarminSyncError as exc:
            with create_session(ctx.settings.database_url) as session:
                fail_run(session, run_id, str(exc))
            raise
        if not wait:
            if as_json:
                print_json({"run_id": run_id, "task_id": task_id, "status": "queued"})
            else:
                out.print(
                    f"Queued sync run #{run_id} (task {task_id}). "
                    "Follow it with `garminsync status` or --wait."
                )
            return exit_codes.OK
        return _follow(ctx, run_id, as_json)
    ctx.runtime.storage.remove_partials()
    err.print("Refreshing the activity list from Garmin…")
    try:
        summary = jobs.sync_account(ctx.runtime, account_id, run_id, full=full, filters=filters)
        counts = _download_with_progress(ctx, summary.queued, run_id)
    except (GarminSyncError, KeyboardInterrupt) as exc:
        with create_session(ctx.settings.database_url) as session:
            fail_run(session, run_id, str(exc) or "interrupted")
        raise
    return _report(ctx, run_id, counts, as_json)


def _download_with_progress(ctx: App, activity_ids: list[int], run_id: int | None) -> Counter[str]:
    from shared.inprocess import download_inline

    if not activity_ids:
        return Counter()
    with _progress() as progress:
        bar = progress.add_task("Downloading", total=len(activity_ids))

        def advance(outcome: Outcome) -> None:
            if outcome.status == "failed":
                progress.console.print(f"[red]failed[/red] {outcome.activity_id}: {safe(outcome.message)}")
            progress.advance(bar)

        return download_inline(ctx.runtime, activity_ids, advance)


def _report(ctx: App, run_id: int, counts: Counter[str], as_json: bool) -> int:
    run = find_run(ctx.settings.database_url, run_id)
    data = {
        "run_id": run_id,
        "status": run.status if run else None,
        "list_requests": run.list_requests if run else None,
        "found": run.found if run else 0,
        "new": run.new if run else 0,
        "downloaded": counts["downloaded"],
        "already": counts["already"],
        "no_file": counts["no_file"],
        "failed": counts["failed"],
        "deferred": counts["deferred"],
        "data_dir": str(ctx.settings.data_dir),
    }
    if as_json:
        print_json(data)
    else:
        out.print(
            f"Garmin's list: {data['found']} checked, {data['new']} new "
            f"({data['list_requests']} request(s)). Downloaded {data['downloaded']}, "
            f"no file {data['no_file']}, failed {data['failed']}, deferred {data['deferred']}. "
            f"Files in {safe(data['data_dir'])}."
        )
    return exit_codes.PARTIAL if counts["failed"] or counts["deferred"] else exit_codes.OK


def _download_ids(ctx: App, activity_ids: list[int], wait: bool, as_json: bool) -> int:
    from shared.planning import claim_ids

    with create_session(ctx.settings.database_url) as session:
        claimed = claim_ids(session, ctx.account_id, activity_ids)
    if not ctx.settings.embedded:
        from services.worker.dispatch import enqueue_downloads

        enqueue_downloads(claimed)
        out.print(f"Queued {len(claimed)} download(s).")
        return exit_codes.OK
    counts = _download_with_progress(ctx, claimed, None)
    if as_json:
        print_json(dict(counts))
    else:
        out.print(", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "nothing to do")
    return exit_codes.PARTIAL if counts["failed"] or counts["deferred"] else exit_codes.OK


def _follow(ctx: App, run_id: int, as_json: bool) -> int:
    """Follow a queued run through the store until it ends."""
    with _progress() as progress:
        bar = progress.add_task(f"Sync run #{run_id}", total=None)
        while True:
            run = find_run(ctx.settings.database_url, run_id)
            if run is None:
                raise GarminSyncError(f"sync run #{run_id} disappeared")
            done = run.downloaded + run.failed + run.no_file
            progress.update(bar, total=run.queued or None, completed=done)
            if run.status != "running":
                break
            time.sleep(0.5)
    counts = Counter(downloaded=run.downloaded, failed=run.failed, no_file=run.no_file)
    code = _report(ctx, run_id, counts, as_json)
    if run.status == "error":
        err.print(f"[red]sync run #{run_id} failed:[/red] {safe(run.message)}")
        return exit_codes.AUTH if "login" in (run.message or "") else exit_codes.PARTIAL
    return code


# --- status / verify ---------------------------------------------------------------


@app.command()
@handled
def status(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False) -> None:
    """What the archive holds, the last sync, the account's login state. No network."""
    ctx = start(_options["account"])
    report = status_report(ctx.runtime, ctx.account_id)
    if as_json:
        print_json(report)
        return
    counts, account = report["counts"], report["account"]
    who = account["display_name"] or account["email"] or "not logged in"
    out.print(
        f"[bold]Account[/bold] {safe(account['name'])} ({safe(who)}) — tokens: {account['token_state']}"
    )
    out.print(
        f"[bold]Activities[/bold] {report['total']}: "
        + ", ".join(
            f"{state} {counts.get(state, 0)}"
            for state in ("downloaded", "missing", "queued", "downloading", "failed", "no_file")
        )
    )
    last = report["last_run"]
    if last:
        out.print(
            f"[bold]Last sync[/bold] #{last['id']} {last['status']} at {last['started_at']}: "
            f"{safe(last['message'] or '')}"
        )
    if report["cooldown_s"]:
        out.print(f"[yellow]Garmin cool-down: {report['cooldown_s']:.0f}s left[/yellow]")
    out.print(
        f"[bold]Data[/bold] {safe(report['data_dir'])}  [bold]Database[/bold] {safe(report['database'])}  "
        f"[bold]Mode[/bold] {report['mode']}"
    )


@app.command()
@handled
def verify(
    repair: Annotated[bool, typer.Option(help="Re-download damaged or missing files.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Problems as JSON on stdout.")] = False,
) -> None:
    """Re-check every archived file against its size, sha256 and FIT CRC."""
    ctx = start(_options["account"])
    total = count_downloaded(ctx.settings.database_url, ctx.account_id)
    problems: list[Problem] = []
    with _progress() as progress:
        bar = progress.add_task("Verifying", total=total)
        for item in verify_archive(ctx.settings.database_url, ctx.runtime.storage, ctx.account_id):
            if item is not None:
                problems.append(item)
            progress.advance(bar)
    if as_json:
        print_json({"checked": total, "problems": [p.__dict__ for p in problems]})
    else:
        for problem in problems:
            out.print(f"[red]{problem.activity_id}[/red] {safe(problem.path)}: {safe(problem.reason)}")
        out.print(f"Checked {total} files: {len(problems)} problem(s).")
    if not problems:
        raise typer.Exit(exit_codes.OK)
    if not repair:
        err.print("Run `garminsync verify --repair` to download them again.")
        raise typer.Exit(exit_codes.PARTIAL)
    ids = [p.activity_id for p in problems]
    mark_for_redownload(ctx.settings.database_url, ids)
    raise typer.Exit(_download_ids(ctx, ids, wait=False, as_json=False))


# --- schedule ----------------------------------------------------------------------

schedule_app = typer.Typer(
    help="The sync schedule (cron, UTC), run by `garminsync beat`.", no_args_is_help=True
)
app.add_typer(schedule_app, name="schedule")


def _schedule_change(change: Callable[[Session, int], object]) -> None:
    from shared.schedules import get_schedule, view

    ctx = start(_options["account"])
    with create_session(ctx.settings.database_url) as session:
        change(session, ctx.account_id)
    mirrored = _mirror(ctx)
    with create_session(ctx.settings.database_url) as session:
        shown = view(get_schedule(session, ctx.account_id), ctx.account_id)
    _print_schedule(shown.as_dict(), mirrored)


def _mirror(ctx: App) -> str:
    """Copy schedules into RedBeat now, so a running beat picks the change up."""
    if ctx.settings.embedded:
        return "no REDIS_URL: schedules run only with Redis and `garminsync beat`"
    from redis.exceptions import RedisError

    from services.worker.beat import mirror_schedules

    try:
        mirror_schedules()
    except (RedisError, OSError):  # beat restores from the database anyway
        return "Redis unreachable: beat will apply it when Redis is back"
    return "active in beat"


def _print_schedule(data: dict[str, Any], note: str) -> None:
    state = "enabled" if data["enabled"] else "disabled"
    out.print(
        f"Schedule: [bold]{safe(data['cron'])}[/bold] — {safe(data['description'])} — {state} ({safe(note)})"
    )
    if data.get("error"):
        out.print(f"[yellow]{safe(data['error'])}[/yellow]")
    for moment in data["next_runs"]:
        out.print(f"  next: {moment}")


@schedule_app.command("show")
@handled
def schedule_show(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False) -> None:
    """The cron, whether it is enabled, and the next five runs."""
    from shared.schedules import get_schedule, view

    ctx = start(_options["account"])
    with create_session(ctx.settings.database_url) as session:
        data = view(get_schedule(session, ctx.account_id), ctx.account_id).as_dict()
    if as_json:
        print_json(data)
    else:
        _print_schedule(data, "embedded mode: needs Redis and beat" if ctx.settings.embedded else "beat")


@schedule_app.command("set")
@handled
def schedule_set(
    cron: Annotated[str, typer.Argument(help="Five-field cron in UTC, or hourly / daily / weekly.")],
) -> None:
    """Set (and enable) the sync schedule."""
    from shared.schedules import set_cron, validate_cron

    validate_cron(cron)  # a wrong cron fails before anything starts
    _schedule_change(lambda session, account_id: set_cron(session, account_id, cron))


@schedule_app.command("enable")
@handled
def schedule_enable() -> None:
    """Turn scheduled syncs on."""
    from shared.schedules import set_enabled

    _schedule_change(lambda session, account_id: set_enabled(session, account_id, True))


@schedule_app.command("disable")
@handled
def schedule_disable() -> None:
    """Turn scheduled syncs off (the cron is kept)."""
    from shared.schedules import set_enabled

    _schedule_change(lambda session, account_id: set_enabled(session, account_id, False))


# --- processes ------------------------------------------------------------------------


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Parallel tasks in this worker.")] = 2,
    queues: Annotated[str, typer.Option(help="Queues to consume.")] = "sync,downloads",
    loglevel: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    hostname: Annotated[str | None, typer.Option(help="Node name (default worker@HOST).")] = None,
) -> None:
    """A Celery worker for syncs and downloads (needs REDIS_URL)."""
    from services.launcher import commands

    raise typer.Exit(commands.worker(concurrency, queues, loglevel, hostname))


@app.command()
def beat(loglevel: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info") -> None:
    """The scheduler: enqueues syncs from the schedules (needs REDIS_URL)."""
    from services.launcher import commands

    raise typer.Exit(commands.beat(loglevel))


@app.command()
def web(
    host: Annotated[str, typer.Option(help="Address to bind; other than localhost needs a password.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
) -> None:
    """The dashboard (GARMINSYNC_WEB_PASSWORD protects it; without one it stays on localhost)."""
    from services.launcher import commands

    commands.web(host, port)


@app.command()
def daemon(
    concurrency: Annotated[int, typer.Option(min=1, help="Worker concurrency.")] = 2,
    host: Annotated[str, typer.Option(help="Dashboard address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard port.")] = 8080,
) -> None:
    """Worker, beat and dashboard in one command, for one machine (needs REDIS_URL)."""
    from services.launcher import commands

    raise typer.Exit(commands.daemon(concurrency, host, port))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
