"""The Garmin Connect simulator, driven over real HTTP by the real garminconnect client."""

from __future__ import annotations

import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from unittest import mock

import garminconnect
import pytest
import requests
from garmin_fit_sdk import Decoder, Stream
from garminconnect.client import sso

from services.simulator.data import HOSTILE_NAMES
from services.simulator.fit_encoder import (
    FitActivity,
    FitRecord,
    corrupt_crc,
    encode_activity,
    fit_crc,
)
from services.simulator.server import SimulatorServer
from services.simulator.state import SimState
from services.simulator.stats import max_requests_in_window
from tests.stack import wait_until

EMAIL, PASSWORD = "athlete@example.com", "correct-horse"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- #
# helpers                                                                     #
# --------------------------------------------------------------------------- #


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(
        activities=120, seed=7, gpx_ratio=0.05, tcx_ratio=0.05, manual_ratio=0.05, now=NOW
    ) as server:
        yield server


@pytest.fixture
def no_login_delay() -> Iterator[None]:
    """The mobile flow sleeps 2-5 s between page load and POST; skip that here."""
    with (
        mock.patch.object(sso, "MOBILE_DELAY_MIN_S", 0.0),
        mock.patch.object(sso, "MOBILE_DELAY_MAX_S", 0.0),
    ):
        yield


def garmin(url: str, **kwargs) -> garminconnect.Garmin:
    """A real client whose SSO, DI token and API hosts all point at the simulator."""
    kwargs.setdefault("retry_attempts", 0)
    api = garminconnect.Garmin(**kwargs)
    api.client._connectapi = url
    api.client._sso = url
    api.client._di_token_url = url + "/di-oauth2-service/oauth/token"
    return api


def token_login(sim: SimulatorServer, ttl: int | None = None) -> garminconnect.Garmin:
    api = garmin(sim.url)
    api.login(tokenstore=json.dumps(sim.state.issue_tokens(ttl=ttl)))
    return api


def bearer(sim: SimulatorServer) -> dict[str, str]:
    return {"Authorization": "Bearer " + sim.state.issue_tokens()["di_token"]}


def api_get(sim: SimulatorServer, path: str, **params) -> requests.Response:
    return requests.get(sim.url + path, params=params, headers=bearer(sim), timeout=10)


def original(sim: SimulatorServer, activity_id: int) -> requests.Response:
    return api_get(sim, f"/download-service/files/activity/{activity_id}")


def decode(fit: bytes) -> tuple[bool, dict, list]:
    integrity = Decoder(Stream.from_byte_array(bytearray(fit))).check_integrity()
    messages, errors = Decoder(Stream.from_byte_array(bytearray(fit))).read()
    return integrity, messages, errors


def control(sim: SimulatorServer, method: str, path: str, body=None) -> requests.Response:
    return requests.request(method, f"{sim.url}/__sim/{path}", json=body, timeout=10)


def all_ids_via_client(api: garminconnect.Garmin, page: int) -> list[int]:
    out: list[int] = []
    start = 0
    while True:
        chunk = api.get_activities(start, page)
        if not chunk:
            return out
        out += [a["activityId"] for a in chunk]
        start += page


# --------------------------------------------------------------------------- #
# data                                                                        #
# --------------------------------------------------------------------------- #


def test_state_is_deterministic_from_seed() -> None:
    a = SimState(60, seed=3, now=NOW)
    b = SimState(60, seed=3, now=NOW)
    c = SimState(60, seed=4, now=NOW)
    assert [(x.activity_id, x.name, x.kind, x.type_key) for x in a.activities()] == [
        (x.activity_id, x.name, x.kind, x.type_key) for x in b.activities()
    ]
    first = a.activity_ids()[0]
    assert a.fit_bytes(first) == b.fit_bytes(first)
    assert a.original_zip(a.ids_by_kind("fit")[0]) == b.original_zip(b.ids_by_kind("fit")[0])
    assert a.activity_ids() != c.activity_ids()


def test_activities_ids_times_kinds_and_names() -> None:
    state = SimState(
        200,
        seed=1,
        now=NOW,
        gpx_ratio=0.05,
        tcx_ratio=0.03,
        manual_ratio=0.02,
        hostile_names=len(HOSTILE_NAMES),
    )
    everything = state.activities()
    acts = [a for a in everything if a.storable]  # 200, plus one whose id exceeds 64 bits
    assert len(everything) == 201 and len(acts) == 200
    ids = [a.activity_id for a in acts]
    assert all(i > 2**31 for i in ids)
    assert 20_000_000_000 < min(ids) < 22_000_000_000
    # Newest first, and ids grow with time.
    assert ids == sorted(ids, reverse=True)
    starts = [a.start_utc for a in acts]
    assert starts == sorted(starts, reverse=True)
    assert starts[0] < NOW
    assert NOW - starts[-1] > timedelta(days=2 * 365)
    kinds = [a.kind for a in acts]
    assert (kinds.count("gpx"), kinds.count("tcx"), kinds.count("manual")) == (10, 6, 4)
    assert {a.type_key for a in acts} >= {"running", "cycling", "lap_swimming", "walking"}
    assert {a.name for a in acts} >= set(HOSTILE_NAMES)
    none = SimState(50, seed=1, now=NOW, gpx_ratio=0, tcx_ratio=0, manual_ratio=0, hostile_names=0)
    assert {a.kind for a in none.activities()} == {"fit"}
    assert not {a.name for a in none.activities()} & set(HOSTILE_NAMES)
    assert len(none.activities()) == 50 and not any(a.odd for a in none.activities())


def test_the_catalogue_serves_values_no_client_can_store(sim: SimulatorServer) -> None:
    """Garmin's JSON as Python writes it: `Infinity`, and an id beyond a signed 64-bit integer."""
    odd = {a.odd: a for a in sim.state.activities() if a.odd}
    assert set(odd) == {"huge_id", "infinite_duration", "infinite_distance"}
    assert odd["huge_id"].activity_id >= 2**63
    body = api_get(sim, "/activitylist-service/activities/search/activities", start=0, limit=1000).text
    assert "Infinity" in body and str(odd["huge_id"].activity_id) in body
    listed = {item["activityId"]: item for item in json.loads(body)}
    assert listed[odd["infinite_duration"].activity_id]["duration"] == math.inf
    assert listed[odd["infinite_distance"].activity_id]["distance"] == math.inf
    assert original(sim, odd["huge_id"].activity_id).status_code == 200  # a sound file all the same
    names = {a.name for a in sim.state.activities()}
    assert {"Null\x00byte Ride", "Intervals [/tempo] 5x1k"} <= names  # 120 activities: all of them


# --------------------------------------------------------------------------- #
# FIT encoder                                                                 #
# --------------------------------------------------------------------------- #


def test_fit_crc_matches_the_protocol_reference() -> None:
    # CRC-16 (poly 0xA001, init 0), the check value of "123456789" is 0xBB3D.
    assert fit_crc(b"123456789") == 0xBB3D
    t0 = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
    fit = encode_activity(
        FitActivity(
            time_created=t0,
            serial_number=1234,
            product=3291,
            sport=1,
            sub_sport=0,
            utc_offset_s=3600,
            records=[FitRecord(t0 + timedelta(seconds=i), 120 + i) for i in range(3)],
        )
    )
    assert fit[8:12] == b".FIT" and fit[0] == 14
    assert int.from_bytes(fit[4:8], "little") == len(fit) - 16
    assert int.from_bytes(fit[12:14], "little") == fit_crc(fit[:12])
    assert fit_crc(fit) == 0  # a whole file including its CRC checks to zero
    ok, messages, errors = decode(fit)
    assert ok and not errors
    assert [r["heart_rate"] for r in messages["record_mesgs"]] == [120, 121, 122]
    bad_ok, _, bad_errors = decode(corrupt_crc(fit))
    assert not bad_ok and bad_errors


def test_fit_records_option_makes_larger_files() -> None:
    small = SimState(5, seed=2, now=NOW, manual_ratio=0, fit_records=40)
    large = SimState(5, seed=2, now=NOW, manual_ratio=0, fit_records=1500)
    aid = small.activity_ids()[0]
    assert len(large.fit_bytes(aid)) > 10 * len(small.fit_bytes(aid))
    ok, messages, errors = decode(large.fit_bytes(aid))
    assert ok and not errors
    assert len(messages["record_mesgs"]) == len(large.track(aid).records) > 40


# --------------------------------------------------------------------------- #
# login                                                                       #
# --------------------------------------------------------------------------- #


def test_sso_login_without_mfa(sim: SimulatorServer, no_login_delay: None) -> None:
    api = garmin(sim.url, email=EMAIL, password=PASSWORD)
    assert api.login() == (None, None)
    assert api.display_name == sim.state.account.display_name
    assert api.unit_system == "metric"
    assert api.client.di_client_id and api.client.di_refresh_token
    stats = sim.state.stats()
    assert stats["logins"] == 1 and stats["token_exchanges"] == 1
    assert stats["by_kind"]["login"] == 2  # sign-in page + credential POST
    assert api.count_activities() == 121  # 120 and the one whose id exceeds 64 bits


def test_sso_login_wrong_password_fails_fast(sim: SimulatorServer, no_login_delay: None) -> None:
    api = garmin(sim.url, email=EMAIL, password="wrong")
    with pytest.raises(garminconnect.GarminConnectAuthenticationError):
        api.login()
    assert sim.state.stats()["login_failures"] == 1
    assert sim.state.stats()["by_kind"]["token_exchange"] == 0


def test_sso_login_with_mfa_prompt(no_login_delay: None) -> None:
    with SimulatorServer(activities=3, seed=1, mfa=True) as sim:
        prompts: list[int] = []

        def prompt() -> str:
            prompts.append(1)
            return "123456"

        api = garmin(sim.url, email=EMAIL, password=PASSWORD, prompt_mfa=prompt)
        assert api.login() == (None, None)
        assert prompts == [1]
        assert api.get_activities(0, 10)


def test_sso_mfa_resume_in_another_instance(no_login_delay: None) -> None:
    with SimulatorServer(activities=3, seed=1, mfa=True) as sim:
        first = garmin(sim.url, email=EMAIL, password=PASSWORD, return_on_mfa=True)
        status, client_state = first.login()
        assert status == "needs_mfa"
        second = garmin(sim.url)
        with pytest.raises(garminconnect.GarminConnectAuthenticationError):
            second.resume_login(json.loads(json.dumps(client_state)), "654321")
        second.resume_login(client_state, "123456")
        assert second.display_name == sim.state.account.display_name
        assert len(second.get_activities(0, 3)) == 3


def test_tokenstore_login_needs_no_sso(sim: SimulatorServer) -> None:
    api = token_login(sim)
    assert api.display_name == sim.state.account.display_name
    stats = sim.state.stats()
    assert stats["by_kind"]["login"] == 0 and stats["by_kind"]["token_exchange"] == 0


def test_api_requires_a_valid_bearer_token(sim: SimulatorServer) -> None:
    path = sim.url + "/activitylist-service/activities/count"
    assert requests.get(path, timeout=5).status_code == 401
    assert requests.get(path, headers={"Authorization": "Bearer x.y.z"}, timeout=5).status_code == 401
    # A token signed by another simulator is unknown here.
    with SimulatorServer(activities=1, seed=7) as other:
        foreign = other.state.issue_tokens()["di_token"]
    assert requests.get(path, headers={"Authorization": f"Bearer {foreign}"}, timeout=5).status_code == 401
    assert api_get(sim, "/activitylist-service/activities/count").status_code == 200


def test_expired_access_token_is_refused(sim: SimulatorServer) -> None:
    token = sim.state.issue_tokens(ttl=2)["di_token"]
    headers = {"Authorization": f"Bearer {token}"}
    path = sim.url + "/userprofile-service/socialProfile"
    assert requests.get(path, headers=headers, timeout=5).status_code == 200
    time.sleep(2.05)  # on purpose: the token's two seconds of life pass
    resp = requests.get(path, headers=headers, timeout=5)
    assert resp.status_code == 401 and "message" in resp.json()


# --------------------------------------------------------------------------- #
# tokens                                                                      #
# --------------------------------------------------------------------------- #


def _refresh(sim: SimulatorServer, refresh_token: str, client_id: str) -> requests.Response:
    return requests.post(
        sim.url + "/di-oauth2-service/oauth/token",
        data={"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token},
        timeout=5,
    )


def test_refresh_rotates_and_old_refresh_token_is_refused(sim: SimulatorServer) -> None:
    tokens = sim.state.issue_tokens()
    first = _refresh(sim, tokens["di_refresh_token"], tokens["di_client_id"])
    assert first.status_code == 200
    body = first.json()
    assert body["refresh_token"] != tokens["di_refresh_token"]
    assert body["access_token"] != tokens["di_token"]
    claims = json.loads(__import__("base64").urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
    assert {"client_id", "exp", "iat", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 3600
    again = _refresh(sim, tokens["di_refresh_token"], tokens["di_client_id"])
    assert again.status_code == 401 and again.json()["error"] == "invalid_grant"
    assert _refresh(sim, body["refresh_token"], tokens["di_client_id"]).status_code == 200
    stats = sim.state.stats()
    assert stats["refreshes"] == 2 and stats["refresh_refused"] == 1


def test_a_refresh_token_chain_ends_where_its_login_said(sim: SimulatorServer) -> None:
    """`refresh_token_expires_in` counts down from the login: a rotation keeps the end, and
    after it only a new login helps (tests set the lifetime)."""
    tokens = requests.post(sim.url + "/__sim/tokens", json={"refresh_ttl": 2}, timeout=5).json()
    first = _refresh(sim, tokens["di_refresh_token"], tokens["di_client_id"]).json()
    assert 0 <= first["refresh_token_expires_in"] <= 2
    time.sleep(2.1)
    late = _refresh(sim, first["refresh_token"], tokens["di_client_id"])
    assert late.status_code == 401 and late.json()["error"] == "invalid_grant"
    default = sim.state.issue_tokens()
    body = _refresh(sim, default["di_refresh_token"], default["di_client_id"]).json()
    assert 90 * 86400 - 60 <= body["refresh_token_expires_in"] <= 90 * 86400  # Garmin's 90 days
    assert requests.post(sim.url + "/__sim/tokens", json={"refresh_ttl": 0}, timeout=5).status_code == 400


def test_client_refreshes_when_token_nears_expiry(sim: SimulatorServer) -> None:
    # The client refreshes when now > exp - 900: a 902 s token needs it after 2 s
    # (and surely not during the login a moment after it was issued).
    api = token_login(sim, ttl=902)
    assert sim.state.stats()["refreshes"] == 0
    old_refresh = api.client.di_refresh_token
    time.sleep(2.05)  # on purpose: the token enters garminconnect's refresh margin
    assert api.get_activities(0, 1)
    assert sim.state.stats()["refreshes"] == 1
    assert sim.state.stats()["by_kind"]["token_refresh"] == 1
    assert api.client.di_refresh_token != old_refresh
    assert _refresh(sim, old_refresh, api.client.di_client_id).status_code == 401
    # Later requests use the new token without another refresh.
    api.get_activities(0, 1)
    assert sim.state.stats()["refreshes"] == 1


def test_revoked_refresh_tokens_force_a_new_login(sim: SimulatorServer) -> None:
    api = token_login(sim, ttl=901)
    assert control(sim, "POST", "revoke").json()["revoked_refresh_tokens"] >= 1
    assert control(sim, "POST", "revoke", {"access_tokens": True}).status_code == 200
    with pytest.raises(
        (garminconnect.GarminConnectConnectionError, garminconnect.GarminConnectAuthenticationError)
    ):
        api.get_activities(0, 1)
    stats = sim.state.stats()
    assert stats["refresh_refused"] >= 1 and stats["statuses"]["401"] >= 1


# --------------------------------------------------------------------------- #
# activity list, count, detail                                                 #
# --------------------------------------------------------------------------- #


def test_list_paginates_newest_first(sim: SimulatorServer) -> None:
    api = token_login(sim)
    expected = sim.state.activity_ids()
    assert all_ids_via_client(api, 25) == expected
    assert all_ids_via_client(api, 1000) == expected
    asc = api_get(sim, "/activitylist-service/activities/search/activities", start=0, limit=1000,
                  sortOrder="asc")  # fmt: skip
    assert [a["activityId"] for a in asc.json()] == expected[::-1]


def test_list_item_shape(sim: SimulatorServer) -> None:
    items = api_get(sim, "/activitylist-service/activities/search/activities", limit=200).json()
    assert isinstance(items, list) and len(items) == 121  # with the huge id
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
    for item in items:
        assert None not in item.values()
        assert stamp.match(item["startTimeLocal"]) and stamp.match(item["startTimeGMT"])
        assert set(item["activityType"]) >= {"typeId", "typeKey", "parentTypeId"}
        assert item["duration"] > 0 and isinstance(item["activityName"], str)
    strength = [i for i in items if i["activityType"]["typeKey"] == "strength_training"]
    assert strength and all("distance" not in i for i in strength)
    names = {i["activityName"] for i in items}
    assert "../etc/passwd" in names and "Run: 5k / tempo?" in names


def test_list_limit_above_1000_is_a_400(sim: SimulatorServer) -> None:
    path = "/activitylist-service/activities/search/activities"
    assert api_get(sim, path, start=0, limit=1001).status_code == 400
    assert api_get(sim, path, start=0, limit=1000).status_code == 200
    assert api_get(sim, path, start="x", limit=10).status_code == 400
    assert api_get(sim, path, startDate="2024-13-01").status_code == 400


def test_list_filters_by_type_and_local_date(sim: SimulatorServer) -> None:
    path = "/activitylist-service/activities/search/activities"
    running = api_get(sim, path, limit=1000, activityType="running").json()
    # Garmin's filter takes a type and its children (trail_running's parent is running).
    assert {a["activityType"]["typeKey"] for a in running} == {"running", "trail_running"}
    family = ("running", "trail_running")
    expected = [a.activity_id for a in sim.state.activities() if a.type_key in family]
    assert [a["activityId"] for a in running] == expected
    acts = sim.state.activities()
    day = acts[10].start_local.date()
    lo, hi = day - timedelta(days=30), day
    got = api_get(sim, path, limit=1000, startDate=lo.isoformat(), endDate=hi.isoformat()).json()
    want = [a.activity_id for a in acts if lo <= a.start_local.date() <= hi]
    assert [a["activityId"] for a in got] == want and acts[10].activity_id in want
    # Inclusive on the local day of startTimeLocal.
    for a in got:
        assert lo <= date.fromisoformat(a["startTimeLocal"][:10]) <= hi


def test_count_and_detail(sim: SimulatorServer) -> None:
    api = token_login(sim)
    assert api.count_activities() == 121  # 120 and the one whose id exceeds 64 bits
    aid = sim.state.activity_ids()[5]
    act = sim.state.get_activity(aid)
    assert act is not None
    detail = api.get_activity(str(aid))
    assert detail["activityId"] == aid
    assert detail["activityName"] == act.name
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.0$", detail["summaryDTO"]["startTimeGMT"])
    assert detail["summaryDTO"]["startTimeGMT"].startswith(act.start_utc.strftime("%Y-%m-%dT%H:%M"))
    assert api_get(sim, "/activity-service/activity/12345").status_code == 404


# --------------------------------------------------------------------------- #
# downloads                                                                   #
# --------------------------------------------------------------------------- #


def test_original_zip_holds_a_fit_the_official_sdk_accepts(sim: SimulatorServer) -> None:
    api = token_login(sim)
    aid = sim.state.ids_by_kind("fit")[0]
    body = api.download_activity(aid, dl_fmt=api.ActivityDownloadFormat.ORIGINAL)
    zf = zipfile.ZipFile(io.BytesIO(body))
    assert zf.namelist() == [f"{aid}_ACTIVITY.fit"]
    fit = zf.read(f"{aid}_ACTIVITY.fit")
    assert 1500 < len(fit) < 20_000
    ok, messages, errors = decode(fit)
    assert ok and not errors
    track = sim.state.track(aid)
    records = messages["record_mesgs"]
    assert len(records) == len(track.records) >= 24
    assert [r["timestamp"] for r in records] == [r.timestamp for r in track.records]
    file_id = messages["file_id_mesgs"][0]
    assert file_id["type"] == "activity" and file_id["manufacturer"] == "garmin"
    act = sim.state.get_activity(aid)
    assert act is not None
    session = messages["session_mesgs"][0]
    assert session["start_time"] == act.start_utc.replace(microsecond=0)
    assert messages["activity_mesgs"][0]["num_sessions"] == 1
    assert len(messages["lap_mesgs"]) == act.lap_count
    resp = original(sim, aid)
    assert resp.headers["Content-Type"] == "application/x-zip-compressed"
    assert resp.content == body


def test_gpx_tcx_and_manual_originals(sim: SimulatorServer) -> None:
    gpx_id = sim.state.ids_by_kind("gpx")[0]
    tcx_id = sim.state.ids_by_kind("tcx")[0]
    manual_id = sim.state.ids_by_kind("manual")[0]
    zf = zipfile.ZipFile(io.BytesIO(original(sim, gpx_id).content))
    assert zf.namelist() == [f"{gpx_id}_ACTIVITY.gpx"]
    gpx = zf.read(zf.namelist()[0])
    assert gpx.startswith(b"<?xml") and b"<gpx" in gpx
    assert gpx.count(b"<trkpt ") == len(sim.state.track(gpx_id).records)
    zf = zipfile.ZipFile(io.BytesIO(original(sim, tcx_id).content))
    assert zf.namelist() == [f"{tcx_id}_ACTIVITY.tcx"]
    assert b"<TrainingCenterDatabase" in zf.read(zf.namelist()[0])
    assert original(sim, manual_id).status_code == 404
    assert original(sim, 99).status_code == 404
    sim.state.configure(manual_status=500)
    assert original(sim, manual_id).status_code == 500


def test_gpx_and_tcx_exports(sim: SimulatorServer) -> None:
    aid = sim.state.ids_by_kind("fit")[0]
    gpx = api_get(sim, f"/download-service/export/gpx/activity/{aid}")
    assert gpx.status_code == 200 and gpx.headers["Content-Type"].startswith("application/gpx+xml")
    assert gpx.content.startswith(b"<?xml")
    tcx = api_get(sim, f"/download-service/export/tcx/activity/{aid}")
    assert tcx.status_code == 200 and b"<TrainingCenterDatabase" in tcx.content
    # Hostile names are escaped inside the XML.
    hostile = next(a for a in sim.state.activities() if "<tags>" in a.name)
    body = api_get(sim, f"/download-service/export/gpx/activity/{hostile.activity_id}").content
    assert b"&lt;tags&gt; &amp; pipes" in body and b"<tags>" not in body


# --------------------------------------------------------------------------- #
# faults                                                                      #
# --------------------------------------------------------------------------- #


def test_429_with_retry_after_then_recovers(sim: SimulatorServer) -> None:
    spec = {"match": "list", "status": 429, "count": 2, "retry_after": 7}
    assert control(sim, "POST", "faults", spec).status_code == 200
    path = "/activitylist-service/activities/search/activities"
    for _ in range(2):
        resp = api_get(sim, path, limit=1)
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
        assert resp.json()["error"]["status-code"] == "429"
    assert api_get(sim, path, limit=1).status_code == 200
    # Other kinds were never affected.
    assert api_get(sim, "/activitylist-service/activities/count").status_code == 200


def test_429_html_without_retry_after_reaches_the_client(sim: SimulatorServer) -> None:
    sim.state.set_faults({"match": "download", "status": 429, "body": "html", "count": 1})
    resp = original(sim, sim.state.ids_by_kind("fit")[0])
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "Cloudflare" in resp.text and "rate limited" in resp.text
    sim.state.set_faults({"match": "list", "status": 429, "count": 1})
    api = token_login(sim)
    with pytest.raises(garminconnect.GarminConnectTooManyRequestsError):
        api.get_activities(0, 1)
    assert api.get_activities(0, 1)


def test_500_for_selected_ids_and_probability(sim: SimulatorServer) -> None:
    ids = sim.state.activity_ids()
    control(sim, "POST", "faults", {"match": "detail", "status": 500, "count": -1, "ids": [ids[0]]})
    for _ in range(3):
        assert api_get(sim, f"/activity-service/activity/{ids[0]}").status_code == 500
    assert api_get(sim, f"/activity-service/activity/{ids[1]}").status_code == 200
    control(sim, "DELETE", "faults")
    assert api_get(sim, f"/activity-service/activity/{ids[0]}").status_code == 200
    sim.state.set_faults({"match": "any", "status": 503, "probability": 1.0})
    assert api_get(sim, "/userprofile-service/socialProfile").status_code == 503
    sim.state.set_faults({"replace": True, "rules": [{"match": "any", "status": 503, "probability": 0.0}]})
    assert api_get(sim, "/userprofile-service/socialProfile").status_code == 200
    assert sim.state.stats()["faults_injected"] == 4
    assert control(sim, "POST", "faults", {"match": "nope", "status": 500}).status_code == 400


def test_broken_zip_then_good_file(sim: SimulatorServer) -> None:
    aid = sim.state.ids_by_kind("fit")[0]
    control(sim, "POST", "faults", {"broken_zip": [aid]})
    bad = original(sim, aid)
    assert bad.status_code == 200
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(bad.content)).read(f"{aid}_ACTIVITY.fit")
    good = original(sim, aid)
    assert zipfile.ZipFile(io.BytesIO(good.content)).testzip() is None


def test_corrupt_fit_count_and_forever(sim: SimulatorServer) -> None:
    a, b = sim.state.ids_by_kind("fit")[:2]
    sim.state.set_faults({"corrupt_fit": [a], "count": 2})
    sim.state.set_faults({"corrupt_fit": [b], "count": -1})

    def fit_of(aid: int) -> bytes:
        return zipfile.ZipFile(io.BytesIO(original(sim, aid).content)).read(f"{aid}_ACTIVITY.fit")

    for _ in range(2):
        ok, _, errors = decode(fit_of(a))
        assert not ok and errors
    assert decode(fit_of(a))[0]
    for _ in range(3):
        assert not decode(fit_of(b))[0]


def test_login_fault_falls_through_to_next_attempt(sim: SimulatorServer, no_login_delay: None) -> None:
    sim.state.set_faults({"match": "login", "status": 429, "count": 1})
    api = garmin(sim.url, email=EMAIL, password=PASSWORD)
    api.login()
    assert sim.state.stats()["statuses"]["429"] == 1


def test_token_fault_fails_the_refresh(sim: SimulatorServer) -> None:
    sim.state.set_faults({"match": "token", "status": 500, "count": 1})
    tokens = sim.state.issue_tokens()
    assert _refresh(sim, tokens["di_refresh_token"], tokens["di_client_id"]).status_code == 500
    assert _refresh(sim, tokens["di_refresh_token"], tokens["di_client_id"]).status_code == 200


# --------------------------------------------------------------------------- #
# config, control, stats                                                      #
# --------------------------------------------------------------------------- #


def test_add_and_delete_activities(sim: SimulatorServer) -> None:
    before = [a.activity_id for a in sim.state.activities() if a.storable]
    ids = control(sim, "POST", "activities", {"count": 3}).json()["ids"]
    assert len(ids) == 3 and min(ids) > max(before) and ids == sorted(ids)
    api = token_login(sim)
    assert [a["activityId"] for a in api.get_activities(0, 3)] == ids[::-1]
    assert api.count_activities() == 124  # 120, the huge id and 3 new
    assert control(sim, "DELETE", f"activities/{ids[0]}").status_code == 200
    assert control(sim, "DELETE", f"activities/{ids[0]}").status_code == 404
    assert api_get(sim, f"/activity-service/activity/{ids[0]}").status_code == 404
    assert original(sim, ids[0]).status_code == 404
    assert api.count_activities() == 123


def test_latency_config(sim: SimulatorServer) -> None:
    control(sim, "POST", "config", {"latency_ms": 150})
    t0 = time.perf_counter()
    api_get(sim, "/activitylist-service/activities/count")
    assert time.perf_counter() - t0 >= 0.15
    assert control(sim, "POST", "config", {"latency_ms": -1}).status_code == 400
    assert control(sim, "GET", "config").json()["latency_ms"] == 150


def test_stats_count_every_non_control_request(sim: SimulatorServer) -> None:
    sim.state.reset_stats()
    headers = bearer(sim)
    aid = sim.state.ids_by_kind("fit")[0]
    for path in (
        "/activitylist-service/activities/search/activities",
        "/activitylist-service/activities/count",
        f"/activity-service/activity/{aid}",
        f"/download-service/files/activity/{aid}",
        "/userprofile-service/socialProfile",
        "/no/such/path",
    ):
        requests.get(sim.url + path, headers=headers, timeout=5)
    requests.get(sim.url + "/activitylist-service/activities/count", timeout=5)  # 401
    control(sim, "GET", "health")  # control requests are not counted
    stats = control(sim, "GET", "stats").json()
    assert stats["total"] == 7
    assert stats["by_kind"] == {
        "list": 1, "count": 2, "download": 1, "detail": 1, "token_refresh": 0,
        "token_exchange": 0, "login": 0, "profile": 1, "other": 1,
    }  # fmt: skip
    assert stats["statuses"] == {"200": 5, "404": 1, "401": 1}
    assert sum(stats["per_second"].values()) == 7
    assert stats["max_per_second"] == max(stats["per_second"].values())
    assert stats["max_in_window"]["60"] == 7
    assert len(stats["requests"]) == 7 and stats["requests"][-1][1:] == [
        "count", "/activitylist-service/activities/count", 401, None,
    ]  # fmt: skip
    assert stats["requests"][0][4] == EMAIL  # the bearer token's account
    assert control(sim, "POST", "stats/reset").status_code == 200
    assert sim.state.stats()["total"] == 0


def test_max_requests_in_window() -> None:
    assert max_requests_in_window([], 1.0) == 0
    assert max_requests_in_window([0.0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3
    assert max_requests_in_window([5.0, 1.0, 3.0, 1.2], 60.0) == 4
    assert max_requests_in_window([0.0, 1.0, 2.0, 3.0], 1.0) == 1


def test_simulated_rate_limit(sim: SimulatorServer) -> None:
    sim.state.configure(rate_limit={"per_second": 5, "retry_after": 1})
    headers = bearer(sim)
    sim.state.reset_stats()
    codes = [
        requests.get(sim.url + "/userprofile-service/socialProfile", headers=headers, timeout=5)
        for _ in range(12)
    ]
    statuses = [r.status_code for r in codes]
    assert statuses.count(429) >= 1 and statuses[:5] == [200] * 5
    assert codes[statuses.index(429)].headers["Retry-After"] == "1"
    stats = sim.state.stats()
    ok_times = [r[0] for r in stats["requests"] if r[3] == 200]
    assert max_requests_in_window(ok_times, 1.0) <= 5
    assert stats["rate_limited"] == statuses.count(429)
    sim.state.configure(rate_limit=None)
    assert requests.get(
        sim.url + "/userprofile-service/socialProfile", headers=headers, timeout=5
    ).status_code == 200  # fmt: skip


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.simulator", "--port", "0", "--activities", "4",
         "--seed", "2", "--port-file", str(port_file), "--mfa"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        wait_until(port_file.exists, 15, interval=0.05, what="the simulator's port file")
        port = int(port_file.read_text())
        base = f"http://127.0.0.1:{port}"
        assert requests.get(base + "/__sim/health", timeout=5).json() == {"ok": True}
        assert requests.get(base + "/__sim/account", timeout=5).json()["mfa"] is True
        assert len(requests.get(base + "/__sim/activities", timeout=5).json()) == 5  # and the huge id
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out.decode().strip() == f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- #
# several accounts                                                            #
# --------------------------------------------------------------------------- #

B_EMAIL, B_PASSWORD = "bea@example.com", "bea-secret"
C_EMAIL, C_PASSWORD = "cem@example.com", "cem-secret"


@pytest.fixture
def multi() -> Iterator[SimulatorServer]:
    """Three accounts: the default, B, and C (which needs MFA)."""
    with SimulatorServer(activities=30, seed=7, now=NOW) as server:
        server.state.add_account(B_EMAIL, B_PASSWORD, activities=20)
        server.state.add_account(C_EMAIL, C_PASSWORD, activities=10, mfa=True)
        yield server


def claims_of(token: str) -> dict:
    return json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))


def bearer_for(sim: SimulatorServer, account: str | None) -> dict[str, str]:
    return {"Authorization": "Bearer " + sim.state.issue_tokens(account=account)["di_token"]}


def token_login_as(sim: SimulatorServer, account: str | None) -> garminconnect.Garmin:
    api = garmin(sim.url)
    api.login(tokenstore=json.dumps(sim.state.issue_tokens(account=account)))
    return api


def assert_limit_decisions_exact(stats: dict, windows: list[tuple[int, float]]) -> None:
    """Every request got a 429 exactly when, counting it, some window held more than N."""
    ordered = sorted(stats["requests"], key=lambda r: r[0])  # logged when answered, not arrived
    times = [r[0] for r in ordered]
    for i, r in enumerate(ordered):
        over = any(sum(1 for t in times[: i + 1] if r[0] - t < w) > n for n, w in windows)
        assert (r[3] == 429) == over, (i, r)


def test_accounts_have_their_own_catalogues_ids_and_guids(multi: SimulatorServer) -> None:
    state = multi.state
    assert state.accounts() == [EMAIL, B_EMAIL, C_EMAIL]
    ids = {e: state.activity_ids(account=e) for e in state.accounts()}
    # Each catalogue also holds one activity whose id exceeds 64 bits (the fault catalogue's).
    assert [len([i for i in v if i < 2**63]) for v in ids.values()] == [30, 20, 10]
    assert ids[EMAIL] == state.activity_ids()  # None means the default account
    everything = [i for v in ids.values() for i in v]
    assert len(set(everything)) == len(everything) and min(everything) > 2**31
    guids = {state.config(account=e)["garminGUID"] for e in state.accounts()}
    assert len(guids) == 3 and state.garmin_guid in guids
    # Deterministic: the same accounts added to the same simulator get the same data.
    twin = SimState(30, seed=7, now=NOW)
    twin.add_account(B_EMAIL, B_PASSWORD, activities=20)
    assert twin.activity_ids(account=B_EMAIL) == ids[B_EMAIL]
    b0 = ids[B_EMAIL][0]
    assert twin.fit_bytes(b0, account=B_EMAIL) == state.fit_bytes(b0, account=B_EMAIL)
    assert state.get_activity(b0) is None and state.get_activity(b0, account=B_EMAIL) is not None
    new = state.add_activities(2, account=C_EMAIL)
    storable_c = [i for i in ids[C_EMAIL] if i < 2**63]
    assert set(new) <= set(state.activity_ids(account=C_EMAIL)) and min(new) > max(storable_c)
    assert state.delete_activity(new[0], account=C_EMAIL) and not state.delete_activity(new[1])
    with pytest.raises(KeyError):
        state.activities(account="nobody@example.com")
    with pytest.raises(ValueError):
        state.add_account(B_EMAIL.upper())


def test_three_accounts_log_in_by_sso_and_see_only_their_own(
    multi: SimulatorServer, no_login_delay: None
) -> None:
    prompts: list[str] = []

    def prompt() -> str:
        prompts.append("asked")
        return "123456"

    for email, password in ((EMAIL, PASSWORD), (B_EMAIL, B_PASSWORD), (C_EMAIL, C_PASSWORD)):
        api = garmin(multi.url, email=email, password=password, prompt_mfa=prompt)
        assert api.login() == (None, None)
        account = multi.state.config(account=email)
        assert claims_of(api.client.di_token)["garmin_guid"] == account["garminGUID"]
        assert api.display_name == account["displayName"]
        assert all_ids_via_client(api, 7) == multi.state.activity_ids(account=email)
        assert api.count_activities() == len(multi.state.activity_ids(account=email))
        assert multi.state.stats(account=email)["token_exchanges"] == 1
    assert prompts == ["asked"]  # only C has MFA
    assert multi.state.stats()["logins"] == 3
    with pytest.raises(garminconnect.GarminConnectAuthenticationError):
        garmin(multi.url, email=EMAIL, password=B_PASSWORD).login()  # B's password is not A's


def test_a_token_reads_only_its_own_account(multi: SimulatorServer) -> None:
    a_id = multi.state.ids_by_kind("fit")[0]
    b_id = multi.state.ids_by_kind("fit", account=B_EMAIL)[0]
    api_b = token_login_as(multi, B_EMAIL)
    b_ids = multi.state.activity_ids(account=B_EMAIL)
    assert [a["activityId"] for a in api_b.get_activities(0, 100)] == b_ids
    body = api_b.download_activity(b_id, dl_fmt=api_b.ActivityDownloadFormat.ORIGINAL)
    fit = zipfile.ZipFile(io.BytesIO(body)).read(f"{b_id}_ACTIVITY.fit")
    assert fit == multi.state.fit_bytes(b_id, account=B_EMAIL)
    as_a, as_b = bearer_for(multi, None), bearer_for(multi, B_EMAIL)
    for path in (
        "/download-service/files/activity/{}",
        "/activity-service/activity/{}",
        "/download-service/export/gpx/activity/{}",
    ):
        assert requests.get(multi.url + path.format(b_id), headers=as_a, timeout=5).status_code == 404
        assert requests.get(multi.url + path.format(a_id), headers=as_b, timeout=5).status_code == 404
        assert requests.get(multi.url + path.format(a_id), headers=as_a, timeout=5).status_code == 200
    profile = requests.get(multi.url + "/userprofile-service/socialProfile", headers=as_b, timeout=5).json()
    assert profile["userName"] == B_EMAIL
    assert profile["garminGUID"] == claims_of(as_b["Authorization"][7:])["garmin_guid"]


def test_refresh_keeps_the_account(multi: SimulatorServer) -> None:
    api = token_login_as(multi, C_EMAIL)
    old_access, old_refresh = api.client.di_token, api.client.di_refresh_token
    api.client._refresh_di_token()  # the library's own refresh, against the simulator
    assert api.client.di_token != old_access and api.client.di_refresh_token != old_refresh
    assert claims_of(api.client.di_token)["garmin_guid"] == claims_of(old_access)["garmin_guid"]
    assert [a["activityId"] for a in api.get_activities(0, 100)] == multi.state.activity_ids(account=C_EMAIL)
    assert multi.state.stats(account=C_EMAIL)["refreshes"] == 1
    assert multi.state.stats(account=B_EMAIL)["refreshes"] == 0
    # Revoking is per account too: C's refresh token dies, B's lives.
    b_tokens = multi.state.issue_tokens(account=B_EMAIL)
    assert multi.state.revoke_refresh_tokens(account=C_EMAIL) == 1
    assert _refresh(multi, api.client.di_refresh_token, api.client.di_client_id).status_code == 401
    assert _refresh(multi, b_tokens["di_refresh_token"], b_tokens["di_client_id"]).status_code == 200
    assert multi.state.stats(account=C_EMAIL)["refresh_refused"] == 1


def test_per_account_windows_refuse_only_that_account(multi: SimulatorServer) -> None:
    windows = [(4, 0.25), (6, 30.0)]
    multi.state.configure(
        rate_limit={"windows": [list(w) for w in windows], "retry_after": 3}, account=B_EMAIL
    )
    assert multi.state.config(account=B_EMAIL)["rate_limit"]["windows"] == [[4, 0.25], [6, 30.0]]
    assert multi.state.config()["rate_limit"] is None  # the IP-wide limit is untouched
    multi.state.reset_stats()
    as_a, as_b = bearer_for(multi, None), bearer_for(multi, B_EMAIL)
    path = multi.url + "/activitylist-service/activities/count"
    a_codes, b_codes = [], []
    for _ in range(10):
        b = requests.get(path, headers=as_b, timeout=5)
        b_codes.append(b.status_code)
        a_codes.append(requests.get(path, headers=as_a, timeout=5).status_code)
    assert set(a_codes) == {200}
    assert b_codes.count(200) <= 6 and b_codes[-1] == 429 and b.headers["Retry-After"] == "3"
    b_stats = multi.state.stats((0.25, 30.0), account=B_EMAIL)
    assert b_stats["statuses"] == {"200": b_codes.count(200), "429": b_codes.count(429)}
    assert b_stats["rate_limited"] == b_codes.count(429) and b_stats["total"] == 10
    assert b_stats["max_in_window"]["30"] == 10 > 6  # the 429s count towards the window
    assert all(r[4] == B_EMAIL for r in b_stats["requests"])
    assert_limit_decisions_exact(b_stats, windows)
    ok = [r[0] for r in b_stats["requests"] if r[3] == 200]
    assert all(max_requests_in_window(ok, w) <= n for n, w in windows)
    a_stats = multi.state.stats(account=EMAIL)
    assert a_stats["statuses"] == {"200": 10} and a_stats["rate_limited"] == 0
    assert multi.state.stats()["total"] == 20 and multi.state.stats()["rate_limited"] == b_codes.count(429)


def test_limits_hold_exactly_under_concurrent_clients(multi: SimulatorServer) -> None:
    """Threads of two accounts race; each account's 429s are exactly its window overruns."""
    from concurrent.futures import ThreadPoolExecutor

    windows = [(5, 0.5), (9, 3.0)]
    for email in (EMAIL, B_EMAIL):
        multi.state.configure(rate_limit={"windows": [list(w) for w in windows]}, account=email)
    multi.state.reset_stats()
    headers = [bearer_for(multi, e) for e in (EMAIL, B_EMAIL)]

    def hammer(i: int) -> list[int]:
        with requests.Session() as session:
            path = multi.url + "/activitylist-service/activities/count"
            return [session.get(path, headers=headers[i % 2], timeout=10).status_code for _ in range(8)]

    with ThreadPoolExecutor(4) as pool:
        codes = [c for batch in pool.map(hammer, range(4)) for c in batch]
    assert codes.count(200) >= 10 and codes.count(429) >= 1
    for email in (EMAIL, B_EMAIL):
        stats = multi.state.stats(account=email)
        assert stats["total"] == 16
        assert_limit_decisions_exact(stats, windows)


def test_ip_wide_limit_counts_every_account(multi: SimulatorServer) -> None:
    multi.state.configure(rate_limit={"windows": [[6, 30]], "body": "html"})
    multi.state.reset_stats()
    tokens = [bearer_for(multi, e) for e in (None, B_EMAIL, C_EMAIL)]
    path = multi.url + "/userprofile-service/socialProfile"
    codes = [requests.get(path, headers=tokens[i % 3], timeout=5) for i in range(9)]
    assert [r.status_code for r in codes] == [200] * 6 + [429] * 3
    assert "Cloudflare" in codes[-1].text and "Retry-After" not in codes[-1].headers
    stats = multi.state.stats((30,))
    assert stats["max_in_window"]["30"] == 9 and stats["rate_limited"] == 3
    assert_limit_decisions_exact(stats, [(6, 30.0)])
    for email in (EMAIL, B_EMAIL, C_EMAIL):  # each account sees its share, its 429 included
        assert multi.state.stats(account=email)["statuses"] == {"200": 2, "429": 1}
    # An account's own limit and the IP's apply together; a limit counts from when it is set.
    multi.state.configure(rate_limit={"windows": [[4, 30]]})
    multi.state.configure(rate_limit={"per_minute": 1}, account=C_EMAIL)
    assert [requests.get(path, headers=tokens[2], timeout=5).status_code for _ in range(2)] == [200, 429]
    assert [requests.get(path, headers=tokens[1], timeout=5).status_code for _ in range(2)] == [200, 200]
    assert requests.get(path, headers=tokens[1], timeout=5).status_code == 429  # the IP's 5th


def test_per_account_stats_and_reset_over_http(multi: SimulatorServer, no_login_delay: None) -> None:
    garmin(multi.url, email=B_EMAIL, password=B_PASSWORD).login()
    multi.state.reset_stats()
    as_a, as_b = bearer_for(multi, None), bearer_for(multi, B_EMAIL)
    for headers in (as_a, as_b, as_b):
        requests.get(multi.url + "/activitylist-service/activities/count", headers=headers, timeout=5)
    requests.get(multi.url + "/activitylist-service/activities/count", timeout=5)  # no token: no account
    everyone = control(multi, "GET", "stats").json()
    b = requests.get(f"{multi.url}/__sim/stats", params={"account": B_EMAIL, "window": 0.5}, timeout=5).json()
    assert set(b) == set(everyone) and everyone["total"] == 4 and b["total"] == 2
    assert b["by_kind"]["count"] == 2 and b["max_in_window"]["60"] == 2 and "0.5" in b["max_in_window"]
    assert [r[4] for r in everyone["requests"]] == [EMAIL, B_EMAIL, B_EMAIL, None]
    assert multi.state.stats(account=C_EMAIL)["total"] == 0
    assert control(multi, "POST", "stats/reset", {"account": B_EMAIL}).status_code == 200
    assert multi.state.stats(account=B_EMAIL)["total"] == 0
    assert multi.state.stats(account=EMAIL)["total"] == 1 and multi.state.stats()["total"] == 4
    assert control(multi, "GET", "stats?account=nobody@example.com").status_code == 404


def test_control_api_with_accounts(multi: SimulatorServer) -> None:
    d = "dee@example.com"
    spec = {"email": d, "password": "dee-pw", "activities": 4, "rate_limit": {"windows": [[5, 60]]}}
    created = control(multi, "POST", "accounts", spec)
    assert created.status_code == 200 and created.json()["email"] == d
    api = garmin(multi.url)
    api.login(tokenstore=json.dumps(created.json()["tokens"]))
    used = multi.state.stats(account=d)["total"]  # the client's profile requests
    for _ in range(5 - used):
        assert [a["activityId"] for a in api.get_activities(0, 10)] == multi.state.activity_ids(account=d)
    with pytest.raises(garminconnect.GarminConnectTooManyRequestsError):
        api.get_activities(0, 10)  # d's 6th request this minute
    listed = control(multi, "GET", "accounts").json()
    # Each catalogue serves one more: the activity whose id exceeds 64 bits.
    assert [(x["email"], x["activities"]) for x in listed] == [
        (EMAIL, 31), (B_EMAIL, 21), (C_EMAIL, 11), (d, 5),
    ]  # fmt: skip
    assert listed[3]["rate_limit"]["windows"] == [[5, 60.0]] and listed[0]["rate_limit"] is None
    assert control(multi, "POST", "accounts", {"email": d}).status_code == 409
    assert control(multi, "POST", "accounts", {"email": "x@example.com", "activities": -1}).status_code == 400
    assert control(multi, "POST", "accounts", {"email": "no-at-sign"}).status_code == 400
    # Every per-account endpoint takes `account`; an unknown one is a 404.
    ids = control(multi, "POST", "activities", {"count": 2, "account": C_EMAIL}).json()["ids"]
    c_list = requests.get(f"{multi.url}/__sim/activities", params={"account": C_EMAIL}, timeout=5).json()
    assert [x["activityId"] for x in c_list[:2]] == ids[::-1] and len(c_list) == 13  # 10, 2 new, the huge id
    assert control(multi, "DELETE", f"activities/{ids[0]}").status_code == 404  # not the default's
    assert control(multi, "DELETE", f"activities/{ids[0]}?account={C_EMAIL}").status_code == 200
    tokens = control(multi, "POST", "tokens", {"account": C_EMAIL, "ttl": 100}).json()
    assert claims_of(tokens["di_token"])["garmin_guid"] == multi.state.config(account=C_EMAIL)["garminGUID"]
    assert control(multi, "POST", "revoke", {"account": C_EMAIL}).json()["revoked_refresh_tokens"] == 1
    config = control(multi, "POST", "config", {"account": B_EMAIL, "rate_limit": {"per_second": 3}})
    assert config.status_code == 200 and config.json()["rate_limit"]["per_second"] == 3
    assert control(multi, "GET", f"config?account={B_EMAIL}").json()["rate_limit"]["per_second"] == 3
    assert control(multi, "GET", "config").json()["rate_limit"] is None
    assert control(multi, "POST", "config", {"account": B_EMAIL, "latency_ms": 5}).status_code == 400
    assert control(multi, "POST", "config", {"rate_limit": {"windows": [[1, 0]]}}).status_code == 400
    account = control(multi, "GET", f"account?account={C_EMAIL}").json()
    assert account["email"] == C_EMAIL and account["mfa"] is True and account["mfa_code"] == "123456"
    for method, path, body in (
        ("GET", "activities?account=nobody@example.com", None),
        ("POST", "activities", {"count": 1, "account": "nobody@example.com"}),
        ("POST", "tokens", {"account": "nobody@example.com"}),
        ("POST", "revoke", {"account": "nobody@example.com"}),
        ("POST", "config", {"account": "nobody@example.com", "mfa": True}),
        ("GET", "account?account=nobody@example.com", None),
    ):
        resp = control(multi, method, path, body)
        assert resp.status_code == 404 and "nobody@example.com" in resp.json()["message"], path


def test_cli_serves_several_accounts(tmp_path: Path, no_login_delay: None) -> None:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.simulator", "--port", "0", "--activities", "5", "--accounts", "3",
         "--account-rate-limit", "30/60", "--rate-limit", "100/10", "--port-file", str(port_file)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    emails = [EMAIL, "athlete2@example.com", "athlete3@example.com"]
    try:
        wait_until(port_file.exists, 15, interval=0.05, what="the simulator's port file")
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        listed = requests.get(base + "/__sim/accounts", timeout=5).json()
        assert [x["email"] for x in listed] == emails
        assert all(x["activities"] == 6 and x["rate_limit"]["windows"] == [[30, 60.0]] for x in listed)
        ip_limit = requests.get(base + "/__sim/config", timeout=5).json()["rate_limit"]
        assert ip_limit["windows"] == [[100, 10.0]]
        seen = []
        for email in emails:
            api = garmin(base, email=email, password=PASSWORD)
            api.login()
            seen.append([a["activityId"] for a in api.get_activities(0, 10)])
            want = requests.get(base + "/__sim/activities", params={"account": email}, timeout=5).json()
            assert seen[-1] == [x["activityId"] for x in want]
        assert len({i for ids in seen for i in ids}) == 18  # 3 x (5 and the huge id)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    lines = out.decode().splitlines()
    assert lines[0] == base
    assert lines[1:] == [f"account {e} password={PASSWORD} activities=6" for e in emails]
