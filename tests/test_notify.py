"""Notifications in embedded mode, as a user gets them: a real local webhook receiver
(Apprise's `json://`), the real garminconnect client against the simulator.

What arrives is checked (titles, bodies, the digest's count) and what must
never arrive is looked for: the notify URL's secrets, Garmin's tokens, the password.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.simulator.server import SimulatorServer
from tests.conftest import Cli, assert_no_secret, sim_env, strict_json, token_values
from tests.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def notified_cli(sim: SimulatorServer, tmp_path: Path, receiver: Receiver, **env: str) -> Cli:
    data_dir = tmp_path / "data"
    return Cli(sim_env(sim, data_dir, GARMINSYNC_NOTIFY_URLS=receiver.url, **env), data_dir)


def deliveries(cli: Cli) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        return conn.execute("SELECT event, status, error FROM notifications ORDER BY id").fetchall()


def assert_clean(receiver: Receiver, cli: Cli, *extra: str) -> None:
    """No message, no delivery row and no output holds a secret."""
    secrets = receiver.secrets | token_values(cli.env) | {"correct-horse", *extra}
    for message in receiver.messages():
        assert_no_secret(secrets, "a notification", message.raw)
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        rows = conn.execute("SELECT title, targets, error, detail FROM notifications").fetchall()
    assert_no_secret(secrets, "the notifications table", json.dumps(rows))


def test_a_sync_sends_one_digest_and_an_unchanged_sync_none(tmp_path: Path, receiver: Receiver) -> None:
    with SimulatorServer(activities=12, seed=3, hostile_names=3) as sim:
        cli = notified_cli(sim, tmp_path, receiver)
        first = cli("sync", "--json")
        assert first.exit_code == 0, first.output
        downloaded = strict_json(first.stdout)["downloaded"]
        assert downloaded >= 8
        (digest,) = receiver.wait_for(1)
        assert digest.path.endswith("/hooks/" + "tk-9f8e7d6c5b4a")  # the receiver got the real URL
        assert digest.title == f"GarminSync: {downloaded} new activities (default)"
        lines = digest.message.splitlines()
        assert len([line for line in lines if line.startswith("- ")]) == 5
        assert f"and {downloaded - 5} more" in lines
        newest = max(
            (a for a in sim.state.activities() if a.storable and a.kind != "manual"),
            key=lambda a: a.start_utc,
        )
        assert newest.start_local.strftime("%Y-%m-%d %H:%M") in lines[0]

        again = cli("sync", "--json")
        assert again.exit_code == 0, again.output
        assert len(receiver.messages()) == 1  # nothing new: nothing sent
        assert deliveries(cli) == [("new_activities", "sent", None)]
        assert_clean(receiver, cli)


def test_notify_test_as_a_command_and_the_failed_delivery_it_shows(
    tmp_path: Path, receiver: Receiver
) -> None:
    with SimulatorServer(activities=3, seed=4) as sim:
        cli = notified_cli(sim, tmp_path, receiver)
        sent = cli.subprocess("notify", "test")
        assert sent.returncode == 0, sent.stderr
        assert f"json://127.0.0.1:{receiver.port}/…" in sent.stdout
        (message,) = receiver.wait_for(1)
        assert message.title == "GarminSync: test notification (default)"

        receiver.status = 500  # the endpoint breaks
        failed = cli.subprocess("notify", "test")
        assert failed.returncode == 5
        (line,) = failed.stderr.strip().splitlines()
        assert line.startswith("error: the test notification was not delivered: json://127.0.0.1:")
        assert "500" in line
        shown = cli.subprocess("status")
        assert "Last notification failed (test)" in shown.stdout
        view = strict_json(cli.subprocess("notify", "show", "--json").stdout)
        assert [row["status"] for row in view["recent"]] == ["failed", "sent"]
        assert view["failed"] == 1
        for output in (sent.stdout, failed.stderr, shown.stdout, json.dumps(view)):
            assert_no_secret(receiver.secrets, "the command's output", output)
        assert_clean(receiver, cli)

        nothing = cli.subprocess("notify", "test", GARMINSYNC_NOTIFY_URLS="")
        assert nothing.returncode == 5
        assert "no notification URL is set" in nothing.stderr
        bad = cli.subprocess("notify", "test", GARMINSYNC_NOTIFY_URLS="nonsense://s3cret-value")
        assert bad.returncode == 5
        assert "GARMINSYNC_NOTIFY_URLS: nonsense://… is not a notification URL" in bad.stderr
        assert "s3cret-value" not in bad.stderr + bad.stdout


def test_login_needed_is_told_once_per_change(tmp_path: Path, receiver: Receiver) -> None:
    with SimulatorServer(activities=3, seed=5) as sim:
        cli = notified_cli(sim, tmp_path, receiver)
        cli.env["GARMINTOKENS"] = json.dumps(sim.state.issue_tokens(ttl=1))  # refresh at the first call
        sim.state.revoke_refresh_tokens()
        for _ in range(2):
            result = cli("sync")
            assert result.exit_code == 3, result.output
        (message,) = receiver.wait_for(1)
        assert message.title == "GarminSync: Garmin login needed (default)"
        assert "`garminsync login`" in message.message
        assert [event for event, _status, _error in deliveries(cli)] == ["login_needed"]  # not run_failed
        assert_clean(receiver, cli)


def test_tokens_expiring_shows_in_status_and_warns_once_a_day(tmp_path: Path, receiver: Receiver) -> None:
    with SimulatorServer(activities=3, seed=6) as sim:
        cli = notified_cli(sim, tmp_path, receiver, GARMINSYNC_TOKEN_WARN_DAYS="7")
        # Access token already due: the first request refreshes, and Garmin's answer says
        # when the refresh token (and so the login) runs out: in 3 days and a bit.
        tokens = sim.state.issue_tokens(ttl=1, refresh_ttl=3 * 86400 + 3600)
        cli.env["GARMINTOKENS"] = json.dumps(tokens)
        assert cli("sync").exit_code == 0
        status = strict_json(cli("status", "--json").stdout)
        expiry = status["token_expiry"]
        assert expiry["days_left"] == 3 and expiry["warn"] and not expiry["expired"]
        text = cli("status").stdout
        assert f"Tokens need a new login by {expiry['expires_at'][:10]} (in 3 days)" in text
        assert cli("sync").exit_code == 0  # a second sync the same day: no second warning
        warnings = receiver.titled("login needed by")
        assert len(warnings) == 1
        assert (
            warnings[0].title == f"GarminSync: Garmin login needed by {expiry['expires_at'][:10]} (default)"
        )
        assert "in 3 days" in warnings[0].message
        assert_clean(receiver, cli)


def test_verify_damage_and_failed_runs_are_told_failures_not_repeated(
    tmp_path: Path, receiver: Receiver
) -> None:
    with SimulatorServer(activities=6, seed=7) as sim:
        cli = notified_cli(sim, tmp_path, receiver)
        assert cli("sync").exit_code == 0
        receiver.wait_for(1)  # the digest
        archived = sorted(p for p in cli.data_dir.rglob("*.fit"))
        archived[0].write_bytes(archived[0].read_bytes()[:-10])  # damaged
        assert cli("verify").exit_code == 4
        (damage,) = receiver.titled("verify found")
        assert damage.title == "GarminSync: verify found 1 damaged file (default)"
        assert "`garminsync verify --repair`" in damage.message

        sim.state.set_faults({"rules": [{"match": "list", "status": 503, "count": -1}]})
        for _ in range(3):
            assert cli("sync").exit_code == 6
        (failed,) = receiver.titled("sync failed")  # three failures of one kind: one message
        assert "Garmin failed on the activity list (HTTP 503)" in failed.message
        assert "the next sync continues" in failed.message
        assert_clean(receiver, cli)


def test_a_long_cooldown_is_told_once_an_hour(tmp_path: Path, receiver: Receiver) -> None:
    from shared.config import load_settings
    from shared.db import ensure_schema
    from shared.ratelimit import account_key
    from shared.runtime import Runtime

    env = {"GARMINSYNC_DATA_DIR": str(tmp_path / "data"), "GARMINSYNC_NOTIFY_URLS": receiver.url}
    settings = load_settings(
        environ={**env, "GARMINSYNC_NOTIFY_COOLDOWN_MINUTES": "10"}, env_file="/nonexistent"
    )
    ensure_schema(settings.database_url)
    runtime = Runtime.build(settings)
    from shared.accounts import get_or_create_account
    from shared.db import create_session

    with create_session(settings.database_url) as session:
        account_id = get_or_create_account(session, settings).id
    runtime.limiter.note_429(account_key(account_id), 120.0)  # short: not worth a message
    assert receiver.messages() == []
    runtime.limiter.note_429(account_key(account_id), 900.0)
    runtime.limiter.note_429(account_key(account_id), 900.0)  # the same stretch: told already
    (message,) = receiver.wait_for(1)
    assert message.title == "GarminSync: Garmin is rate-limiting (default)"
    assert "pause for 15 min" in message.message


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("GARMINSYNC_NOTIFY_EVENTS", "run_failed,sometimes", "unknown event 'sometimes'"),
        ("GARMINSYNC_NOTIFY_COOLDOWN_MINUTES", "30", "between 1 and 15"),
        ("GARMINSYNC_TOKEN_WARN_DAYS", "soon", "must be a whole number"),
        ("GARMINSYNC_NOTIFY_URLS", "tgram://123456789:AAsecretbottoken/42 ftp://nope", "ftp://…"),
    ],
)
def test_bad_notification_settings_are_one_clear_line(cli: Cli, name: str, value: str, says: str) -> None:
    result = cli.subprocess("status", **{name: value})
    assert result.returncode == 5
    (line,) = result.stderr.strip().splitlines()
    assert name in line and says in line
    assert "AAsecretbottoken" not in line


def test_an_event_turned_off_is_neither_sent_nor_kept(tmp_path: Path, receiver: Receiver) -> None:
    with SimulatorServer(activities=4, seed=8) as sim:
        cli = notified_cli(sim, tmp_path, receiver, GARMINSYNC_NOTIFY_EVENTS="run_failed,login_needed")
        assert cli("sync").exit_code == 0
        assert cli.subprocess("notify", "test").returncode == 0  # a test always goes
        (message,) = receiver.wait_for(1)
        assert "test notification" in message.title
        assert [event for event, _status, _error in deliveries(cli)] == ["test"]  # no digest kept
