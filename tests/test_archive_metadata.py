"""What the archive keeps beside each original, embedded mode, through the real garminconnect client:
the sidecar (the list's summary at no request, details at one each), GPX/TCX exports beside the
original (each one request, each checked), and a format asked for later fetching only that."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from defusedxml.ElementTree import fromstring

from services.simulator.server import SimulatorServer
from shared.garmin_values import clean_json
from tests.conftest import Cli, assert_no_secret, token_values

GPX_NS = "{http://www.topografix.com/GPX/1/1}"
TCX_NS = "{http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2}"


def rows(cli: Cli, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        return conn.execute(sql, params).fetchall()


def archived(cli: Cli) -> dict[int, tuple[str, str]]:
    """Archived activities: id -> (original's path, its format)."""
    return {
        i: (path, fmt)
        for i, path, fmt in rows(
            cli, "SELECT id, file_path, file_format FROM activities WHERE state='downloaded'"
        )
    }


def files(cli: Cli, fmt: str) -> dict[int, tuple[str | None, str | None, int, str | None]]:
    """activity_files rows of one format: id -> (path, sha256, attempts, last_error)."""
    return {
        i: (path, sha, attempts, error)
        for i, path, sha, attempts, error in rows(
            cli,
            "SELECT activity_id, path, sha256, attempts, last_error FROM activity_files WHERE format=?",
            fmt,
        )
    }


def kinds(sim: SimulatorServer) -> dict[int, str]:
    return {a.activity_id: a.kind for a in sim.state.activities() if a.storable}


def garmin_json(sim: SimulatorServer, path: str) -> Any:
    """An answer of the simulated Garmin, as a client reads it (JSON `Infinity` included)."""
    token = sim.state.issue_tokens()["di_token"]
    answer = requests.get(sim.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    answer.raise_for_status()
    return json.loads(answer.text)


def sidecar(cli: Cli, activity_id: int) -> tuple[Path, dict[str, Any]]:
    (path,) = rows(cli, "SELECT path FROM activity_files WHERE activity_id=? AND format='json'", activity_id)[
        0
    ]
    full = cli.data_dir / path
    return full, json.loads(full.read_text(encoding="utf-8"))


def by_kind(sim: SimulatorServer) -> dict[str, int]:
    return {kind: n for kind, n in sim.state.stats()["by_kind"].items() if n}


def test_the_sidecar_keeps_the_list_summary_at_no_request(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    catalogue = kinds(simulator)
    with_file = {i for i, kind in catalogue.items() if kind != "manual"}
    counted = by_kind(simulator)
    # The list pages and one download per original: nothing for the sidecars.
    assert counted == {"list": counted["list"], "download": len(catalogue)}  # manual ones: answered 404
    summaries = {item["activityId"]: item for item in garmin_json(simulator, LIST_ALL)}
    originals = archived(cli)
    assert set(originals) == with_file
    secrets = token_values(cli.env)
    for activity_id in catalogue:
        path, content = sidecar(cli, activity_id)
        assert content == {"summary": clean_json(summaries[activity_id])}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert_no_secret(secrets, path.name, path.read_text(encoding="utf-8"))
        if activity_id in originals:  # named like the original; manual activities keep theirs too
            original, fmt = originals[activity_id]
            assert path.relative_to(cli.data_dir).as_posix() == original.removesuffix(f".{fmt}") + ".json"


LIST_ALL = "/activitylist-service/activities/search/activities?start=0&limit=1000"


def test_details_cost_one_request_per_activity_and_join_the_sidecar(
    cli: Cli, simulator: SimulatorServer
) -> None:
    assert cli("download", "--missing", GARMINSYNC_SAVE_DETAILS="1").exit_code == 0
    originals = archived(cli)
    counted = by_kind(simulator)
    assert counted == {"list": counted["list"], "download": len(kinds(simulator)), "detail": len(originals)}
    details_asked = [
        int(r[2].rsplit("/", 1)[1]) for r in simulator.state.stats()["requests"] if r[1] == "detail"
    ]
    assert sorted(details_asked) == sorted(originals)  # once each
    summaries = {item["activityId"]: item for item in garmin_json(simulator, LIST_ALL)}
    for activity_id in originals:
        _path, content = sidecar(cli, activity_id)
        detail = garmin_json(simulator, f"/activity-service/activity/{activity_id}")
        assert content == {"summary": clean_json(summaries[activity_id]), "details": clean_json(detail)}
    simulator.state.reset_stats()
    assert cli("download", "--missing", GARMINSYNC_SAVE_DETAILS="1").exit_code == 0
    assert simulator.state.stats()["total"] == 1


def test_details_asked_for_later_cost_only_the_details(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    originals = archived(cli)
    fits = {i: (cli.data_dir / path).read_bytes() for i, (path, _fmt) in originals.items()}
    simulator.state.reset_stats()
    result = cli("download", "--missing", "--json", GARMINSYNC_SAVE_DETAILS="1")
    assert result.exit_code == 0, result.output
    assert by_kind(simulator) == {"list": 1, "detail": len(originals)}
    for activity_id, (path, _fmt) in originals.items():
        assert (cli.data_dir / path).read_bytes() == fits[activity_id]  # the original untouched
        _sidecar, content = sidecar(cli, activity_id)
        assert set(content) == {"summary", "details"} and content["summary"]["activityId"] == activity_id
        assert content["details"]["activityId"] == activity_id
    assert json.loads(cli("status", "--json").stdout)["counts"]["downloaded"] == len(originals)
    simulator.state.reset_stats()
    assert cli("download", "--missing", GARMINSYNC_SAVE_DETAILS="1").exit_code == 0
    assert simulator.state.stats()["total"] == 1


def expected_exports(sim: SimulatorServer, wanted: tuple[str, ...]) -> dict[int, list[str]]:
    """Per activity with a file: the exports it gets (not its original's own format)."""
    return {i: [f for f in wanted if f != kind] for i, kind in kinds(sim).items() if kind != "manual"}


def assert_export_is_the_activity(sim: SimulatorServer, activity_id: int, fmt: str, path: Path) -> None:
    """Well-formed, of its format, and this activity's: its start, its track."""
    act = sim.state.get_activity(activity_id)
    root = fromstring(path.read_bytes())
    start = act.start_utc.replace(microsecond=0)
    if fmt == "gpx":
        assert root.tag == f"{GPX_NS}gpx"
        moment = root.findtext(f"{GPX_NS}metadata/{GPX_NS}time")
        points = root.findall(f".//{GPX_NS}trkpt")
        assert len(points) == sum(r.lat is not None for r in sim.state.track(activity_id).records)
    else:
        assert root.tag == f"{TCX_NS}TrainingCenterDatabase"
        moment = root.findtext(f"{TCX_NS}Activities/{TCX_NS}Activity/{TCX_NS}Id")
        points = root.findall(f".//{TCX_NS}Trackpoint")
        assert len(points) == len(sim.state.track(activity_id).records)
    assert moment is not None and datetime.fromisoformat(moment).astimezone(UTC) == start


def test_gpx_and_tcx_beside_each_original_checked_and_listed(cli: Cli, simulator: SimulatorServer) -> None:
    env = {"GARMINSYNC_FORMATS": "fit,gpx,tcx"}
    assert cli("download", "--missing", **env).exit_code == 0
    wanted = expected_exports(simulator, ("gpx", "tcx"))
    counted = by_kind(simulator)
    exports = sum(len(formats) for formats in wanted.values())
    assert counted == {
        "list": counted["list"],
        "download": len(kinds(simulator)),  # every original asked once (manual ones: no file)
        "export": exports,
    }
    originals = archived(cli)
    listed = {row["id"]: row for row in json.loads(cli("list", "--offline", "--json").stdout)}
    for activity_id, formats in wanted.items():
        original, fmt = originals[activity_id]
        stem = original.removesuffix(f".{fmt}")
        for export in formats:
            path = cli.data_dir / f"{stem}.{export}"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert_export_is_the_activity(simulator, activity_id, export, path)
            assert files(cli, export)[activity_id][0] == f"{stem}.{export}"
        assert listed[activity_id]["formats"] == [fmt, *formats]
    table = cli("list", "--offline", **env).stdout
    assert "formats" in table
    simulator.state.reset_stats()
    assert cli("download", "--missing", **env).exit_code == 0
    assert simulator.state.stats()["total"] == 1


def test_a_format_asked_for_later_fetches_only_that_format(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    simulator.state.reset_stats()
    assert cli("download", "--missing", GARMINSYNC_FORMATS="fit,tcx").exit_code == 0
    wanted = expected_exports(simulator, ("tcx",))
    assert by_kind(simulator) == {"list": 1, "export": sum(len(f) for f in wanted.values())}
    asked = [r[2] for r in simulator.state.stats()["requests"] if r[1] == "export"]
    assert all("/export/tcx/" in path for path in asked)
    assert set(files(cli, "tcx")) == {i for i, formats in wanted.items() if formats}
    simulator.state.reset_stats()
    assert cli("download", "--missing", GARMINSYNC_FORMATS="fit,tcx").exit_code == 0
    assert simulator.state.stats()["total"] == 1


def test_broken_and_hostile_exports_are_refused_and_the_original_stays(
    cli: Cli, simulator: SimulatorServer
) -> None:
    bomb, broken, other, external = simulator.state.ids_by_kind("fit")[:4]
    simulator.state.set_faults(
        {
            "xml_bomb": [bomb],
            "broken_xml": [broken],
            "wrong_activity": [other],
            "xml_external": [external],
            "count": -1,
        }
    )
    env = {"GARMINSYNC_FORMATS": "fit,gpx", "GARMINSYNC_MAX_ATTEMPTS": "2"}
    first = cli("download", "--missing", "--json", **env)
    assert first.exit_code == 0, first.output
    assert "the original is kept" in first.stderr
    originals = archived(cli)
    gpx = files(cli, "gpx")
    reasons = {
        bomb: "refused: it declares a DTD",
        broken: "is not well-formed XML",
        other: "is of another activity",
        external: "refused: it declares a DTD",
    }
    listed = {row["id"]: row for row in json.loads(cli("list", "--offline", "--json").stdout)}
    for activity_id, reason in reasons.items():
        path, fmt = originals[activity_id]
        assert fmt == "fit" and (cli.data_dir / path).is_file()  # the original is archived
        assert not (cli.data_dir / path.replace(".fit", ".gpx")).exists()
        stored_path, sha, attempts, error = gpx[activity_id]
        assert (stored_path, sha, attempts) == (None, None, 1) and reason in (error or "")
        assert listed[activity_id]["state"] == "downloaded" and listed[activity_id]["formats"] == ["fit"]
        assert reason in listed[activity_id]["last_error"]
    assert not [p for p in cli.data_dir.rglob("*") if p.name.startswith(".partial-")]
    # The next sync asks again for those four only; after GARMINSYNC_MAX_ATTEMPTS no more.
    simulator.state.reset_stats()
    assert cli("download", "--missing", **env).exit_code == 0
    assert by_kind(simulator) == {"list": 1, "export": 4}
    simulator.state.reset_stats()
    assert cli("download", "--missing", **env).exit_code == 0
    assert simulator.state.stats()["total"] == 1
    # Asked for by a person, a good export comes; the intact original is not fetched again.
    simulator.state.clear_faults()
    simulator.state.reset_stats()
    again = cli("download", str(bomb), "--json", **env)
    assert again.exit_code == 0, again.output
    assert by_kind(simulator) == {"export": 1}
    assert files(cli, "gpx")[bomb][1] is not None
    path, _fmt = originals[bomb]
    assert_export_is_the_activity(simulator, bomb, "gpx", cli.data_dir / path.replace(".fit", ".gpx"))


def test_bad_format_settings_are_one_clear_line(cli: Cli, simulator: SimulatorServer) -> None:
    cases = {
        ("GARMINSYNC_FORMATS", "gpx,tcx"): "GARMINSYNC_FORMATS must include fit",
        (
            "GARMINSYNC_FORMATS",
            "fit,kml",
        ): "GARMINSYNC_FORMATS takes fit, gpx, tcx (comma-separated), got 'kml'",
        ("GARMINSYNC_SAVE_DETAILS", "maybe"): "GARMINSYNC_SAVE_DETAILS must be true or false",
    }
    for (name, value), message in cases.items():
        result = cli("download", "--missing", **{name: value})
        assert result.exit_code == 5 and message in result.stderr, (name, value, result.output)
        assert "Traceback" not in result.output
    assert simulator.state.stats()["total"] == 0
    accepted = cli("list", "--offline", GARMINSYNC_FORMATS=" FIT, gpx ,gpx", GARMINSYNC_SAVE_DETAILS="yes")
    assert accepted.exit_code == 0, accepted.output


def test_a_failed_details_request_or_a_429_on_an_export_never_fails_the_original(
    cli: Cli, simulator: SimulatorServer
) -> None:
    first, second = simulator.state.ids_by_kind("fit")[:2]
    simulator.state.set_faults(
        [
            {"match": "detail", "status": 500, "count": 1, "ids": [first]},
            {"match": "export", "status": 429, "count": 1, "ids": [second], "retry_after": 1},
        ]
    )
    env = {"GARMINSYNC_FORMATS": "fit,gpx", "GARMINSYNC_SAVE_DETAILS": "1"}
    assert cli("download", "--missing", **env).exit_code == 0
    originals = archived(cli)
    assert first in originals and second in originals
    _path, content = sidecar(cli, first)
    assert set(content) == {"summary"}  # the details wait for the next sync
    _path, attempts, error = rows(
        cli,
        "SELECT path, attempts, last_error FROM activity_files WHERE activity_id=? AND format='json'",
        first,
    )[0]
    assert attempts == 1 and "HTTP 500" in error
    assert second not in {i for i, row in files(cli, "gpx").items() if row[1]}  # rate-limited: left for later
    assert files(cli, "gpx").get(second, (None, None, 0, None))[2] == 0  # ... and not counted as an attempt
    simulator.state.reset_stats()
    assert cli("download", "--missing", **env).exit_code == 0
    counted = by_kind(simulator)
    assert counted["list"] == 1 and counted.get("download", 0) == 0
    _path, content = sidecar(cli, first)
    assert content["details"]["activityId"] == first
    assert files(cli, "gpx")[second][1] is not None
