"""`garminsync login` through garminconnect's real SSO flow against the simulator."""

from __future__ import annotations

import json
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from services.simulator.server import SimulatorServer
from tests.conftest import Cli, assert_no_secret, sim_env, token_values


@pytest.fixture(autouse=True)
def _short_sso_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """garminconnect pauses 2-5 s before posting credentials (anti-bot); not needed here."""
    import garminconnect.client.sso as sso

    monkeypatch.setattr(sso, "MOBILE_DELAY_MIN_S", 0.0)
    monkeypatch.setattr(sso, "MOBILE_DELAY_MAX_S", 0.01)


def login_cli(sim: SimulatorServer, tmp_path: Path, **env: str) -> Cli:
    base = sim_env(sim, tmp_path / "data", GARMINTOKENS=str(tmp_path / "tokens"), **env)
    return Cli(base, tmp_path / "data")


def test_login_stores_tokens_encrypted_and_0600(tmp_path: Path) -> None:
    with SimulatorServer(activities=5, seed=2) as sim:
        cli = login_cli(
            sim, tmp_path, GARMIN_EMAIL=sim.state.account.email, GARMIN_PASSWORD=sim.state.account.password
        )
        result = cli("login")
        assert result.exit_code == 0, result.output
        assert "Logged in as" in result.stdout
        token_file = tmp_path / "tokens" / "garmin_tokens.json"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        tokens = json.loads(token_file.read_text())
        with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
            blob, state, name = conn.execute(
                "SELECT token_blob, token_state, display_name FROM accounts"
            ).fetchone()
        assert state == "valid" and name
        secrets = token_values(cli.env) | {sim.state.account.password}
        assert {tokens["di_token"], tokens["di_refresh_token"]} <= secrets  # the file holds the stored pair
        assert_no_secret(secrets, "the token column", blob)
        assert_no_secret(secrets, "login's output", result.output)
        # The stored tokens work: a download needs no further login.
        sim.state.reset_stats()
        assert cli("download", "--missing", GARMINTOKENS=str(tmp_path / "elsewhere")).exit_code == 0
        assert sim.state.stats()["logins"] == 0


def test_login_with_mfa_code_prompt(tmp_path: Path) -> None:
    with SimulatorServer(activities=3, seed=2, mfa=True) as sim:
        cli = login_cli(
            sim, tmp_path, GARMIN_EMAIL=sim.state.account.email, GARMIN_PASSWORD=sim.state.account.password
        )
        result = cli("login", input="123456\n")
        assert result.exit_code == 0, result.output
        assert "MFA code" in result.output
        assert cli("list", "--all").exit_code == 0


def test_wrong_password_fails_clearly_and_pauses_logins(tmp_path: Path) -> None:
    with SimulatorServer(activities=3, seed=2) as sim:
        cli = login_cli(sim, tmp_path, GARMIN_EMAIL=sim.state.account.email, GARMIN_PASSWORD="nope")
        first = cli("login")
        assert first.exit_code == 3
        assert "refused the email or password" in first.stderr
        attempts = sim.state.stats()["login_failures"]
        second = cli("login")
        assert second.exit_code == 6
        assert "paused" in second.stderr
        assert sim.state.stats()["login_failures"] == attempts  # no request was sent


def test_missing_credentials_without_terminal(tmp_path: Path) -> None:
    with SimulatorServer(activities=3, seed=2) as sim:
        cli = login_cli(sim, tmp_path)
        result = cli.subprocess("login")
        assert result.returncode == 3
        assert "GARMIN_EMAIL" in result.stderr
        assert "Traceback" not in result.stderr


def test_token_import(tmp_path: Path) -> None:
    with SimulatorServer(activities=3, seed=2) as sim:
        cli = login_cli(sim, tmp_path)
        tokens = json.dumps(sim.state.issue_tokens())
        result = cli("login", "--tokens", tokens)
        assert result.exit_code == 0, result.output
        assert cli("list", "--all").exit_code == 0
        bad = cli("login", "--tokens", '{"nothing": 1}')
        assert bad.exit_code == 3
        assert "di_token" in bad.stderr


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_the_login_pause_holds_and_ends_in_any_time_zone(tmp_path: Path, zone: str) -> None:
    """The store keeps the pause's end in UTC; a local clock behind UTC must not stretch the
    pause and one ahead must not skip it (a real process, so TZ applies to its clock)."""
    with SimulatorServer(activities=3, seed=2) as sim:
        email, password = sim.state.account.email, sim.state.account.password
        cli = login_cli(
            sim, tmp_path, GARMIN_EMAIL=email, GARMIN_PASSWORD="nope", GARMINSYNC_LOGIN_BACKOFF="10", TZ=zone
        )
        refused = cli.subprocess("login")
        refused_at = time.monotonic()
        assert refused.returncode == 3, refused.stderr
        failures = sim.state.stats()["login_failures"]
        held = cli.subprocess("login", GARMIN_PASSWORD=password)
        assert held.returncode == 6 and "paused" in held.stderr, held.stderr
        assert sim.state.stats()["login_failures"] == failures  # no request was sent
        assert sim.state.stats()["logins"] == 0
        # Ten seconds: a loaded machine may take several to start the next command. Then, on
        # purpose, the pause runs out, whatever the local clock.
        time.sleep(max(0.0, refused_at + 10.5 - time.monotonic()))
        after = cli.subprocess("login", GARMIN_PASSWORD=password)
        assert after.returncode == 0, after.stderr
        # Without a pause (GARMINSYNC_LOGIN_BACKOFF=0), the next attempt goes to Garmin at once.
        for _ in range(2):
            again = cli.subprocess("--account", "second", "login", GARMINSYNC_LOGIN_BACKOFF="0")
            assert again.returncode == 3, again.stderr
        assert sim.state.stats()["login_failures"] == failures + 2
