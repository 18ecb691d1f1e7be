"""`make demo`: archive a simulated Garmin account on the embedded default.

Starts the bundled simulator with a few hundred activities, then runs the
real commands a user would: `garminsync login` (garminconnect's SSO flow),
`garminsync download --missing`, a second run that finds nothing to do,
`garminsync verify` and `garminsync status`. SQLite, no Redis, no workers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from services.simulator.server import SimulatorServer  # noqa: E402

DATA = REPO / "demo-data"
GARMINSYNC = str(Path(sys.executable).with_name("garminsync"))


def run(*args: str, env: dict[str, str]) -> None:
    print(f"\n$ garminsync {' '.join(args)}", flush=True)
    result = subprocess.run([GARMINSYNC, *args], env=env)
    if result.returncode != 0:
        sys.exit(f"demo: `garminsync {' '.join(args)}` exited with {result.returncode}")


def main() -> None:
    if DATA.exists():
        shutil.rmtree(DATA)
    with SimulatorServer(activities=300, seed=42, latency_ms=20) as sim:
        account = sim.state.account
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("GARMIN", "DATABASE_URL", "REDIS_URL"))
        }
        env.update(
            GARMIN_EMAIL=account.email,
            GARMIN_PASSWORD=account.password,
            GARMINTOKENS=str(DATA / "tokens"),
            GARMINSYNC_DATA_DIR=str(DATA),
            GARMINSYNC_GARMIN_API_URL=sim.url,
            # The simulator is not Garmin: a demo may go faster than the 30/minute default.
            GARMINSYNC_RATE_LIMIT="25/second",
        )
        print(f"Garmin Connect simulator on {sim.url} with {len(sim.state.activity_ids())} activities")
        run("login", env=env)
        run("download", "--missing", env=env)
        sim.state.reset_stats()
        run("download", "--missing", env=env)
        print(f"(second run: {sim.state.stats()['total']} request(s) to Garmin)")
        run("verify", env=env)
        run("status", env=env)
    fits = sorted((DATA / "fit").glob("*.fit"))
    print(f"\nArchive: {len(fits)} FIT files in {DATA / 'fit'}, e.g. {fits[0].name if fits else '-'}")
    print(f"Database: {DATA / 'garmin.db'} (SQLite)")
    print(f"Try: GARMINSYNC_DATA_DIR={DATA} {GARMINSYNC} list --downloaded --offline")


if __name__ == "__main__":
    main()
