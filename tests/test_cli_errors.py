"""Bad input: a clear line, the documented exit code, no traceback, nothing lost."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Cli, strict_json


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["list", "--all", "--missing"], 2, "choose one of"),
        (["list", "--offline", "--since", "2026-02-01", "--until", "2026-01-01"], 2, "is after --until"),
        (["list", "--offline", "--since", "2026-13-01"], 2, "2026-13-01"),
        (["download"], 2, "--missing"),
        (["download", "--missing", "42"], 2, "not both"),
        (["sync", "--nope"], 2, "--nope"),
        (["--account", "ghost", "status"], 2, "unknown account"),
    ],
)
def test_usage_errors(cli: Cli, args: list[str], code: int, message: str) -> None:
    result = cli.subprocess(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_rejected_token(cli: Cli) -> None:
    result = cli.subprocess("download", "--missing", GARMINTOKENS='{"di_token": "forged.jwt.value"}')
    assert result.returncode == 3
    assert "login" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_tokens_at_all(cli: Cli, tmp_path: Path) -> None:
    result = cli.subprocess("list", "--all", GARMINTOKENS=str(tmp_path / "none"))
    assert result.returncode == 3
    assert "garminsync login" in result.stderr


def test_unwritable_data_dir(cli: Cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = cli.subprocess("download", "--missing", GARMINSYNC_DATA_DIR=str(blocker / "data"))
    assert result.returncode == 5
    assert "Traceback" not in result.stderr
    assert str(blocker) in result.stderr


def test_unwritable_archive_dir_keeps_the_store(cli: Cli) -> None:
    """The database is fine but files can't be written: exit 5 before any download is lost."""
    assert cli("list", "--all").exit_code == 0
    (cli.data_dir / "fit").write_text("a file where the archive directory should be")
    result = cli.subprocess("download", "--missing")
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr
    (cli.data_dir / "fit").unlink()
    assert cli("download", "--missing").exit_code == 0


def test_download_by_id_with_redis_down_claims_nothing(cli: Cli) -> None:
    """Redis mode, Redis unreachable: one line, exit 5, and the claim is given back."""
    assert cli("list", "--all").exit_code == 0
    first = strict_json(cli("list", "--offline", "--json").stdout)[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    result = cli.subprocess("download", str(first["id"]), REDIS_URL=closed)
    assert result.returncode == 5, result.stderr
    assert "cannot reach Redis" in result.stderr and "Traceback" not in result.stderr
    after = {row["id"]: row["state"] for row in strict_json(cli("list", "--offline", "--json").stdout)}
    assert after[first["id"]] == first["state"] == "missing"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GARMINSYNC_RATE_LIMIT", "fast", "GARMINSYNC_RATE_LIMIT"),
        ("GARMINSYNC_PAGE_SIZE", "5000", "between 1 and 1000"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL"),
        ("GARMINSYNC_FILE_LAYOUT", "../{id}.fit", "inside the data dir"),
    ],
)
def test_bad_settings(cli: Cli, name: str, value: str, message: str) -> None:
    result = cli.subprocess("status", **{name: value})
    assert result.returncode == 5
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_from_dotenv(cli: Cli, tmp_path: Path) -> None:
    env = dict(cli.env)
    data_dir = env.pop("GARMINSYNC_DATA_DIR")
    (tmp_path / ".env").write_text(f"GARMINSYNC_DATA_DIR={data_dir}\n")
    result = Cli(env, Path(data_dir))("status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["data_dir"] == data_dir


def test_schedule_commands_and_a_wrong_cron(cli: Cli) -> None:
    shown = json.loads(cli("schedule", "show", "--json").stdout)
    assert shown["enabled"] is False
    assert cli("schedule", "set", "0 */2 * * *").exit_code == 0
    shown = json.loads(cli("schedule", "show", "--json").stdout)
    assert shown["cron"] == "0 */2 * * *" and shown["enabled"] and len(shown["next_runs"]) == 5
    assert "2 hours" in shown["description"]
    wrong = cli.subprocess("schedule", "set", "61 * * * *")
    assert wrong.returncode == 2 and "not a valid cron" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert json.loads(cli("schedule", "show", "--json").stdout)["cron"] == "0 */2 * * *"  # kept
    assert cli("schedule", "disable").exit_code == 0
    assert json.loads(cli("schedule", "show", "--json").stdout)["next_runs"] == []
    assert cli("schedule", "set", "weekly").exit_code == 0
    shown = json.loads(cli("schedule", "show", "--json").stdout)
    assert shown["cron"] == "30 3 * * 1"
    assert shown["enabled"] is False and shown["next_runs"] == []  # a new cron leaves a disabled schedule off


def test_schedule_set_enables_only_a_new_schedule(cli: Cli) -> None:
    """A first `schedule set` starts the schedule enabled; on an existing one it changes the
    cron and leaves it on or off as it was."""

    def shown() -> dict[str, object]:
        return dict(json.loads(cli("schedule", "show", "--json").stdout))

    assert cli("schedule", "set", "daily").exit_code == 0
    assert shown()["enabled"] is True
    assert cli("schedule", "disable").exit_code == 0
    assert cli("schedule", "set", "hourly").exit_code == 0
    after = shown()
    assert (after["cron"], after["enabled"], after["next_runs"]) == ("0 * * * *", False, [])
    assert cli("schedule", "enable").exit_code == 0
    assert shown()["enabled"] is True and shown()["cron"] == "0 * * * *"


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 0 30 2 *", "never runs"),
        ("0 0 31 4,6 *", "never runs"),
        ("0 0 L * *", "may only use numbers"),
        ("0 0 * * 7", "0 is Sunday"),
        ("0 0 1 * 1", "restrict only one"),
    ],
)
def test_a_cron_beat_cannot_run_is_refused(cli: Cli, cron: str, message: str) -> None:
    assert cli("schedule", "set", "daily").exit_code == 0
    wrong = cli.subprocess("schedule", "set", cron)
    assert wrong.returncode == 2, wrong.stderr
    assert message in wrong.stderr and "Traceback" not in wrong.stderr
    assert json.loads(cli("schedule", "show", "--json").stdout)["cron"] == "30 3 * * *"  # kept


def test_an_impossible_stored_cron_does_not_break_the_commands(cli: Cli) -> None:
    """A schedule saved before crons were checked: shown with the reason, nothing fails."""
    assert cli("schedule", "set", "daily").exit_code == 0
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        conn.execute("UPDATE schedules SET cron = '0 0 30 2 *'")
    shown = cli.subprocess("schedule", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["next_runs"] == [] and "never runs" in data["error"]
    human = cli.subprocess("schedule", "show")
    assert human.returncode == 0 and "never runs" in human.stdout
    assert cli.subprocess("status").returncode == 0
    assert cli("schedule", "set", "hourly").exit_code == 0


def test_names_from_garmin_print_as_plain_text(cli: Cli) -> None:
    """Names with Rich markup, escapes, NUL and a right-to-left override (the simulator's
    catalogue), on a terminal Rich would style: shown as text, never interpreted."""
    terminal = {"FORCE_COLOR": "1", "COLUMNS": "400"}
    result = cli.subprocess("list", "--all", **terminal)
    assert result.returncode == 0, result.stderr
    assert "Intervals [/tempo] 5x1k" in result.stdout
    assert "[link=https://evil.example/x]click me[/link]" in result.stdout
    assert "\x1b]8;" not in result.stdout  # no hyperlink, hidden or not
    for text in (result.stdout, result.stderr, cli.subprocess("status", **terminal).stdout):
        for char in ("\x00", "\x07", "\x9b", "\u202e", "\x1b[2J", "\x1b[31m"):
            assert char not in text, repr(char)
    listed = strict_json(cli.subprocess("list", "--offline", "--json").stdout)  # no Infinity
    assert {row["name"] for row in listed} >= {"Null byte Ride", "Right-to-left gnp.exe"}


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (["list", "--offline", "--limit", "99999999999999999999"], {}, 2, "--limit"),
        (["download", "99999999999999999999999"], {}, 2, "activity_ids"),
        (["download", "0"], {}, 2, "activity_ids"),
        (["status"], {"REDIS_URL": "redis://localhost:99999/0"}, 5, "REDIS_URL has no valid port"),
        (["status"], {"REDIS_URL": "redis://:pw@localhost:abc/0"}, 5, "REDIS_URL has no valid port"),
    ],
)
def test_numbers_out_of_range_have_their_exit_code(
    cli: Cli, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    result = cli.subprocess(*args, **env)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert ":pw@" not in result.stderr


def test_a_damaged_database_is_an_environment_error(cli: Cli) -> None:
    cli.data_dir.mkdir(parents=True)
    (cli.data_dir / "garmin.db").write_bytes(b"not a database, but a file in its place " * 100)
    for args in (("status",), ("list", "--offline")):
        result = cli.subprocess(*args)
        assert result.returncode == 5, result.stderr
        assert result.stderr.strip() == "error: cannot open the database: file is not a database"


def test_web_on_a_port_in_use_is_one_line_and_exit_5(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli.subprocess("web", "--port", str(port))
    assert result.returncode == 5
    assert result.stderr.splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_a_reader_that_stops_early_gets_no_error(cli: Cli) -> None:
    """`garminsync export | head`: the reader closes the pipe; the command ends quietly."""
    import subprocess

    from tests.conftest import GARMINSYNC, clean_environ

    assert cli("list", "--all").exit_code == 0  # the store holds the simulator's activities
    proc = subprocess.Popen(
        [GARMINSYNC, "export", "--format", "csv"],
        env={**clean_environ(), **cli.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before a byte is written: the first write meets a closed pipe
    err = proc.stderr.read()
    assert proc.wait(60) == 1, err  # as Click, rich and Python's own docs do on a closed pipe
    assert err == ""  # no "unexpected BrokenPipeError", no traceback
