"""manifest.json: every archived file with its hash, kept current, and enough to check the archive
without the database (`garminsync verify --manifest`, or `sha256sum -c` as the README shows)."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
from pathlib import Path

from services.simulator.server import SimulatorServer
from tests.conftest import Cli

# The README's check without GarminSync (run in the data dir).
SHA256SUM_CHECK = (
    'python3 -c \'import json; [print(f["sha256"] + "  " + f["path"]) '
    'for f in json.load(open("manifest.json"))["files"]]\' | sha256sum -c --quiet'
)


def archive_files(data_dir: Path) -> set[str]:
    """Every file of the archive proper (not the store, keys or the manifest itself)."""
    return {p.relative_to(data_dir).as_posix() for p in (data_dir / "fit").rglob("*") if p.is_file()}


def manifest(data_dir: Path) -> dict:
    return json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))


def test_the_manifest_lists_every_file_and_checks_without_the_database(
    cli: Cli, simulator: SimulatorServer
) -> None:
    env = {"GARMINSYNC_FORMATS": "fit,gpx"}
    assert cli("download", "--missing", **env).exit_code == 0
    path = cli.data_dir / "manifest.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    files = manifest(cli.data_dir)["files"]
    assert {entry["path"] for entry in files} == archive_files(cli.data_dir) and len(files) == len(
        archive_files(cli.data_dir)
    )
    for entry in files:
        data = (cli.data_dir / entry["path"]).read_bytes()
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        assert str(entry["activity_id"]) in entry["path"] and entry["path"].endswith("." + entry["format"])
        assert entry["account"] == "default"
    assert {entry["format"] for entry in files} >= {"fit", "gpx", "json"}

    # Nothing new: not rewritten. A new activity: rewritten with it.
    written = path.stat().st_mtime_ns
    assert cli("download", "--missing", **env).exit_code == 0
    assert path.stat().st_mtime_ns == written
    (new_id,) = simulator.state.add_activities(1, kind="fit")
    assert cli("download", "--missing", **env).exit_code == 0
    assert {e["activity_id"] for e in manifest(cli.data_dir)["files"]} >= {new_id}
    assert {e["path"] for e in manifest(cli.data_dir)["files"]} == archive_files(cli.data_dir)

    # Without the database at all.
    (cli.data_dir / "garmin.db").rename(cli.data_dir.parent / "elsewhere.db")
    for suffix in ("-wal", "-shm"):
        (cli.data_dir / f"garmin.db{suffix}").unlink(missing_ok=True)
    clean = cli("verify", "--manifest", "--json")
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout) == {"checked": len(archive_files(cli.data_dir)), "problems": []}
    assert not (cli.data_dir / "garmin.db").exists()  # verify --manifest never opened (or made) one
    shell = subprocess.run(["bash", "-c", SHA256SUM_CHECK], cwd=cli.data_dir, capture_output=True, text=True)
    assert shell.returncode == 0, shell.stderr

    fit = next(e["path"] for e in manifest(cli.data_dir)["files"] if e["format"] == "fit")
    gpx = next(e["path"] for e in manifest(cli.data_dir)["files"] if e["format"] == "gpx")
    damaged = bytearray((cli.data_dir / fit).read_bytes())
    damaged[20] ^= 0xFF
    (cli.data_dir / fit).write_bytes(bytes(damaged))
    (cli.data_dir / gpx).unlink()
    found = cli("verify", "--manifest", "--json")
    assert found.exit_code == 4
    reasons = {p["path"]: p["reason"] for p in json.loads(found.stdout)["problems"]}
    assert reasons == {fit: "sha256 differs from the manifest's", gpx: "file is missing"}
    assert (
        subprocess.run(["bash", "-c", SHA256SUM_CHECK], cwd=cli.data_dir, capture_output=True).returncode != 0
    )


def test_verify_writes_the_manifest_and_a_missing_one_is_a_clear_error(cli: Cli) -> None:
    missing = cli("verify", "--manifest")
    assert (
        missing.exit_code == 5 and "no manifest" in missing.stderr and "garminsync verify" in missing.stderr
    )
    assert cli("download", "--missing").exit_code == 0
    (cli.data_dir / "manifest.json").unlink()
    assert cli("verify").exit_code == 0
    assert {e["path"] for e in manifest(cli.data_dir)["files"]} == archive_files(cli.data_dir)
    (cli.data_dir / "manifest.json").write_text("{not json")
    unreadable = cli("verify", "--manifest")
    assert unreadable.exit_code == 5 and "unreadable" in unreadable.stderr
