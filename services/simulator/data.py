"""Deterministic account and activity data, and Garmin's JSON shapes for it.

Everything derives from the seed (and a reference "now"), so two simulators
built with the same arguments serve the same activities and the same files.
Shapes follow real Garmin responses: list items omit keys without a value,
list times are ``YYYY-MM-DD HH:MM:SS``, detail times ``YYYY-MM-DDTHH:MM:SS.0``.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .fit_encoder import FitActivity, FitLap, FitRecord

KINDS = ("fit", "gpx", "tcx", "manual")
FIRST_ACTIVITY_ID = 21_000_000_000


@dataclass(frozen=True)
class ActivityType:
    """A Garmin activity type with what it takes to invent a plausible one."""

    key: str
    type_id: int
    parent_id: int
    sport_type_id: int
    fit_sport: int
    fit_sub_sport: int
    gps: bool
    has_distance: bool
    speed: tuple[float, float]  # m/s
    minutes: tuple[int, int]
    cadence: tuple[int, int]
    label: str
    tcx_sport: str
    weight: int


TYPES: dict[str, ActivityType] = {
    t.key: t
    for t in (
        ActivityType("running", 1, 17, 1, 1, 0, True, True, (2.6, 3.8), (20, 90),
                     (82, 92), "Running", "Running", 30),
        ActivityType("trail_running", 6, 1, 1, 1, 3, True, True, (1.9, 3.0), (40, 180),
                     (76, 88), "Trail Running", "Running", 8),
        ActivityType("cycling", 2, 17, 2, 2, 0, True, True, (5.5, 8.5), (30, 240),
                     (75, 95), "Cycling", "Biking", 12),
        ActivityType("road_biking", 10, 2, 2, 2, 7, True, True, (7.0, 9.5), (45, 240),
                     (80, 98), "Road Cycling", "Biking", 6),
        ActivityType("indoor_cycling", 25, 2, 2, 2, 6, False, True, (6.0, 9.0), (30, 90),
                     (80, 100), "Indoor Cycling", "Biking", 4),
        ActivityType("lap_swimming", 27, 26, 5, 5, 17, False, True, (0.6, 1.1), (20, 60),
                     (20, 30), "Pool Swim", "Other", 8),
        ActivityType("walking", 9, 17, 11, 11, 0, True, True, (1.1, 1.6), (15, 90),
                     (50, 60), "Walking", "Other", 14),
        ActivityType("hiking", 3, 17, 17, 17, 0, True, True, (0.9, 1.4), (60, 300),
                     (45, 55), "Hiking", "Other", 8),
        ActivityType("strength_training", 13, 29, 4, 10, 20, False, False, (0.0, 0.0),
                     (20, 75), (0, 0), "Strength", "Other", 10),
    )
}  # fmt: skip

PARENT_KEYS: dict[int, str] = {
    1: "running",
    2: "cycling",
    3: "hiking",
    9: "walking",
    17: "all",
    26: "swimming",
    29: "fitness_equipment",
}


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float
    tz: str
    tz_id: int


HOME_PLACES = (
    Place("Berlin", 52.5200, 13.4050, "Europe/Berlin", 124),
    Place("Potsdam", 52.3906, 13.0645, "Europe/Berlin", 124),
    Place("Grunewald", 52.4862, 13.2614, "Europe/Berlin", 124),
)
TRAVEL_PLACES = (
    Place("New York", 40.7128, -74.0060, "America/New_York", 149),
    Place("Tokyo", 35.6762, 139.6503, "Asia/Tokyo", 107),
    Place("Cuajimalpa de Morelos", 19.3120, -99.3124, "America/Mexico_City", 150),
)

HOSTILE_NAMES = (
    # Read as Rich markup: an error, and a hidden hyperlink.
    "Intervals [/tempo] 5x1k",
    "[link=https://evil.example/x]click me[/link]",
    # Terminal escapes: clear screen, colour, an OSC 8 hyperlink, BEL, an 8-bit CSI.
    "Evening Run \x1b[2J\x1b[31mred\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07\x07 \x9b1m",
    "Null\x00byte Ride",  # PostgreSQL text cannot hold NUL
    "Right-to-left \u202egnp.exe",  # shows as "exe.png"
    "../etc/passwd",
    "Run: 5k / tempo?",
    "Morning Run 🏃‍♀️🔥",
    "..\\..\\Windows\\System32\\config",
    "CON",
    'Quotes "and" <tags> & pipes | stars *',
    "Tab\tand\nnewline",
    "Ünïcödé Straßenlauf — 東京 " + "x" * 220,
    # Read as formulas by spreadsheets opening a CSV export (CSV injection).
    '=HYPERLINK("https://evil.example/x","Long Run")',
    "@SUM(1+1) -tempo +strides",
)

# Numbers Garmin might send that no client can take as they are: an id beyond a
# signed 64-bit integer (an extra activity, listed among the others) and
# `Infinity` for a duration and a distance (JSON `Infinity`, which Python writes).
HUGE_ID_BASE = 2**63
ODD_VALUES = ("huge_id", "infinite_duration", "infinite_distance")

DEVICES = ((3291, "fenix6x"), (3113, "fr945"), (3589, "fr255"), (3121, "edge530"))


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    mfa: bool
    display_name: str
    full_name: str
    profile_id: int
    device_serial: int
    home: Place


@dataclass(frozen=True)
class Activity:
    """One upstream activity; files are derived from it on demand."""

    activity_id: int
    name: str
    type_key: str
    kind: str
    start_utc: datetime
    place: Place
    duration_s: float
    distance_m: float
    avg_hr: int
    max_hr: int
    calories: int
    elevation_gain: float
    lap_count: int
    device_product: int
    uploaded_utc: datetime
    odd: str = ""  # one of ODD_VALUES: what its summary reports that no client can store

    @property
    def storable(self) -> bool:
        """False for the extra activity whose id exceeds 64 bits (a client must skip it)."""
        return self.odd != "huge_id"

    @property
    def type(self) -> ActivityType:
        return TYPES[self.type_key]

    @property
    def start_local(self) -> datetime:
        return self.start_utc.astimezone(ZoneInfo(self.place.tz)).replace(tzinfo=None)

    @property
    def utc_offset_s(self) -> int:
        offset = self.start_utc.astimezone(ZoneInfo(self.place.tz)).utcoffset()
        return int(offset.total_seconds()) if offset else 0

    @property
    def has_gps(self) -> bool:
        return self.type.gps and self.kind != "manual"

    @property
    def elapsed_s(self) -> float:
        """Garmin's `elapsedDuration`: the timer time plus the pauses; the FIT session says the same."""
        return round(self.duration_s * 1.01, 3)

    @property
    def end_utc(self) -> datetime:
        return self.start_utc + timedelta(seconds=self.duration_s)


def make_account(
    seed: int, email: str, password: str, mfa: bool, display_name: str | None = None,
    full_name: str | None = None,
) -> Account:  # fmt: skip
    """The single simulated account."""
    rng = random.Random(f"account:{seed}")
    profile_id = 90_000_000 + rng.randrange(1, 9_999_999)
    return Account(
        email=email,
        password=password,
        mfa=mfa,
        display_name=display_name or f"sim-athlete-{profile_id % 10000:04d}",
        full_name=full_name or "Sim Athlete",
        profile_id=profile_id,
        device_serial=3_300_000_000 + rng.randrange(1, 99_999_999),
        home=HOME_PLACES[0],
    )


def _pick_type(rng: random.Random, need_gps: bool) -> ActivityType:
    pool = [t for t in TYPES.values() if t.gps or not need_gps]
    return rng.choices(pool, weights=[t.weight for t in pool])[0]


def _default_name(t: ActivityType, place: Place, kind: str) -> str:
    if not t.gps or kind == "manual":
        return t.label
    return f"{place.name} {t.label}"


def make_activity(
    rng: random.Random, activity_id: int, start_utc: datetime, place: Place, kind: str,
    name: str | None = None,
) -> Activity:  # fmt: skip
    """Invent one activity's summary values (cheap: no track is generated)."""
    t = _pick_type(rng, need_gps=kind in ("gpx", "tcx"))
    duration = rng.uniform(t.minutes[0] * 60, t.minutes[1] * 60)
    distance = rng.uniform(*t.speed) * duration if t.has_distance else 0.0
    avg_hr = rng.randint(105, 158)
    return Activity(
        activity_id=activity_id,
        name=name if name is not None else _default_name(t, place, kind),
        type_key=t.key,
        kind=kind,
        start_utc=start_utc,
        place=place,
        duration_s=round(duration, 3),
        distance_m=round(distance, 2),
        avg_hr=avg_hr,
        max_hr=min(200, avg_hr + rng.randint(8, 30)),
        calories=int(duration / 60 * rng.uniform(6.0, 13.0)),
        elevation_gain=round(rng.uniform(5, 40) * distance / 1000, 1) if t.gps else 0.0,
        lap_count=1 if kind == "manual" else min(6, 1 + int(duration // 1200)),
        device_product=rng.choice(DEVICES)[0],
        uploaded_utc=start_utc + timedelta(seconds=duration + rng.randint(60, 3600)),
    )


def _exact_positions(rng: random.Random, n: int, ratios: dict[str, float]) -> list[str]:
    """Kinds for n activities with exact per-kind counts (round(n * ratio))."""
    kinds = ["fit"] * n
    free = list(range(n))
    rng.shuffle(free)
    for kind, ratio in ratios.items():
        count = min(len(free), round(n * max(0.0, ratio)))
        for _ in range(count):
            kinds[free.pop()] = kind
    return kinds


def generate_activities(
    seed: int, count: int, now: datetime, *, gpx_ratio: float, tcx_ratio: float,
    manual_ratio: float, hostile_names: int, years: float = 3.0,
) -> list[Activity]:  # fmt: skip
    """``count`` activities over the last ``years`` years, oldest first."""
    rng = random.Random(f"activities:{seed}")
    kinds = _exact_positions(rng, count, {"gpx": gpx_ratio, "tcx": tcx_ratio, "manual": manual_ratio})
    last_day = (now - timedelta(days=1)).date()
    span_days = max(1, int(365 * years))
    starts: list[tuple[datetime, Place]] = []
    for _ in range(count):
        place = rng.choice(HOME_PLACES) if rng.random() > 0.06 else rng.choice(TRAVEL_PLACES)
        day = last_day - timedelta(days=rng.randrange(span_days))
        local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(place.tz))
        local += timedelta(seconds=rng.randrange(5 * 3600, 20 * 3600))
        starts.append((local.astimezone(UTC), place))
    starts.sort(key=lambda s: s[0])
    odd = hostile_names != 0 and count > 0
    if hostile_names < 0:
        hostile_names = min(len(HOSTILE_NAMES), max(1, count // 5)) if count else 0
    hostile_at = rng.sample(range(count), min(count, hostile_names))
    names = {pos: HOSTILE_NAMES[i % len(HOSTILE_NAMES)] for i, pos in enumerate(hostile_at)}
    out: list[Activity] = []
    next_id = FIRST_ACTIVITY_ID + rng.randrange(1000, 100_000)
    for i, (start, place) in enumerate(starts):
        # Garmin ids grow with upload time; keep them strictly increasing.
        next_id += rng.randint(50_000, 3_000_000)
        out.append(make_activity(rng, next_id, start, place, kinds[i], names.get(i)))
    return _with_odd_values(rng, out) if odd else out


def _with_odd_values(rng: random.Random, acts: list[Activity]) -> list[Activity]:
    """Infinite values on two activities, and one more activity with a huge id."""
    acts[len(acts) // 3] = replace(acts[len(acts) // 3], odd="infinite_duration")
    with_distance = [i for i in range(2 * len(acts) // 3, len(acts)) if acts[i].type.has_distance]
    if with_distance:
        acts[with_distance[0]] = replace(acts[with_distance[0]], odd="infinite_distance")
    base = acts[len(acts) // 2]
    start = base.start_utc - timedelta(minutes=rng.randint(30, 120))
    huge = make_activity(rng, HUGE_ID_BASE + base.activity_id, start, base.place, "fit")
    return sorted([*acts, replace(huge, odd="huge_id")], key=lambda act: act.start_utc)


def new_activity(
    rng: random.Random, after: Activity | None, now: datetime, *, gpx_ratio: float,
    tcx_ratio: float, manual_ratio: float,
) -> Activity:  # fmt: skip
    """One activity newer than ``after`` (for "the athlete just went out")."""
    roll = rng.random()
    kind = "fit"
    for k, ratio in (("gpx", gpx_ratio), ("tcx", tcx_ratio), ("manual", manual_ratio)):
        if roll < ratio:
            kind = k
            break
        roll -= ratio
    place = rng.choice(HOME_PLACES)
    start = (now - timedelta(minutes=rng.randint(100, 200))).replace(microsecond=0)
    prev_id = after.activity_id if after else FIRST_ACTIVITY_ID
    if after is not None and start <= after.start_utc:
        start = after.start_utc + timedelta(seconds=60)
    act = make_activity(rng, prev_id + rng.randint(50_000, 3_000_000), start, place, kind)
    return replace(act, uploaded_utc=max(act.uploaded_utc, now))


# --------------------------------------------------------------------------- #
# Tracks (the samples written into FIT, GPX and TCX files)                    #
# --------------------------------------------------------------------------- #


def make_track(act: Activity, seed: int, records: int) -> FitActivity:
    """The samples of one activity, deterministic per (seed, activity id).

    ``records`` is capped at one per second of the activity's duration.
    """
    rng = random.Random(f"track:{seed}:{act.activity_id}")
    t = act.type
    duration = max(1, int(act.duration_s))
    n = max(2, min(records, duration + 1))
    start = act.start_utc.replace(microsecond=0)
    offsets = [round(i * duration / (n - 1)) for i in range(n)]
    gps = act.has_gps
    lat, lon = act.place.lat, act.place.lon
    if gps:
        lat += rng.uniform(-0.02, 0.02)
        lon += rng.uniform(-0.02, 0.02)
    heading = rng.uniform(0, 2 * math.pi)
    altitude = rng.uniform(30, 600) if gps else None
    mean_speed = act.distance_m / duration if t.has_distance else 0.0
    raw_speeds = [max(0.1, mean_speed * rng.uniform(0.8, 1.2)) for _ in range(n)]
    # Scale so the cumulative distance ends exactly at the summary distance.
    steps = [0.0] + [raw_speeds[i] * (offsets[i] - offsets[i - 1]) for i in range(1, n)]
    total = sum(steps) or 1.0
    scale = act.distance_m / total if t.has_distance else 0.0
    out: list[FitRecord] = []
    dist = 0.0
    hr = float(act.avg_hr - 15)
    for i in range(n):
        step = steps[i] * scale
        dist += step
        if gps and step:
            heading += rng.uniform(-0.5, 0.5)
            lat += step * math.cos(heading) / 111_320.0
            lon += step * math.sin(heading) / (111_320.0 * math.cos(math.radians(lat)))
            assert altitude is not None
            altitude = max(-20.0, altitude + rng.uniform(-1.5, 1.6))
        hr = min(act.max_hr, max(70.0, hr + rng.uniform(-3, 4)))
        out.append(
            FitRecord(
                timestamp=start + timedelta(seconds=offsets[i]),
                heart_rate=int(hr),
                cadence=rng.randint(*t.cadence) if t.cadence[1] else None,
                lat=round(lat, 7) if gps else None,
                lon=round(lon, 7) if gps else None,
                altitude_m=round(altitude, 1) if altitude is not None else None,
                distance_m=round(dist, 2) if t.has_distance else None,
                speed_mps=round(raw_speeds[i] * scale, 3) if t.has_distance else None,
            )
        )
    laps_n = max(1, min(act.lap_count, n - 1))
    bounds = [round(k * (n - 1) / laps_n) for k in range(laps_n + 1)]
    laps = [FitLap(bounds[k] if k == 0 else bounds[k] + 1, bounds[k + 1]) for k in range(laps_n)]
    return FitActivity(
        time_created=start,
        serial_number=3_300_000_000 + act.activity_id % 99_999_999,
        product=act.device_product,
        sport=t.fit_sport,
        sub_sport=t.fit_sub_sport,
        utc_offset_s=act.utc_offset_s,
        records=out,
        laps=laps,
        calories=act.calories,
        timer_s=act.duration_s,
        elapsed_s=act.elapsed_s,
    )


# --------------------------------------------------------------------------- #
# JSON shapes                                                                  #
# --------------------------------------------------------------------------- #


def _list_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def _detail_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".0"


def _type_json(t: ActivityType) -> dict[str, Any]:
    return {
        "typeId": t.type_id,
        "typeKey": t.key,
        "parentTypeId": t.parent_id,
        "isHidden": False,
        "restricted": False,
        "trimmable": True,
    }


def type_matches(t: ActivityType, query: str) -> bool:
    """Garmin's ``activityType`` filter matches a type or its parent type."""
    return query in (t.key, PARENT_KEYS.get(t.parent_id))


def _speeds(act: Activity) -> tuple[float, float] | None:
    if not act.type.has_distance or act.duration_s <= 0:
        return None
    avg = act.distance_m / act.duration_s
    return avg, avg * 1.45


def list_item(act: Activity, account: Account) -> dict[str, Any]:
    """One element of the activity list (keys without a value are omitted)."""
    t = act.type
    item: dict[str, Any] = {
        "activityId": act.activity_id,
        "activityName": act.name,
        "startTimeLocal": _list_time(act.start_local),
        "startTimeGMT": _list_time(act.start_utc),
        "activityType": _type_json(t),
        "eventType": {"typeId": 9, "typeKey": "uncategorized", "sortOrder": 10},
        "duration": act.duration_s,
        "elapsedDuration": act.elapsed_s,
        "movingDuration": float(int(act.duration_s * 0.97)),
        "calories": float(act.calories),
        "averageHR": float(act.avg_hr),
        "maxHR": float(act.max_hr),
        "ownerId": account.profile_id,
        "ownerDisplayName": account.display_name,
        "ownerFullName": account.full_name,
        "privacy": {"typeId": 2, "typeKey": "private"},
        "userPro": False,
        "hasVideo": False,
        "hasPolyline": act.has_gps,
        "hasImages": False,
        "timeZoneId": act.place.tz_id,
        "beginTimestamp": int(act.start_utc.timestamp() * 1000),
        "sportTypeId": t.sport_type_id,
        "lapCount": act.lap_count,
        "endTimeGMT": _list_time(act.end_utc),
        "manualActivity": act.kind == "manual",
        "autoCalcCalories": False,
        "favorite": False,
        "pr": False,
        "parent": False,
        "purposeful": False,
        "elevationCorrected": False,
        "atpActivity": False,
        "decoDive": False,
        "qualifyingDive": False,
        "hasSplits": act.kind == "fit",
        "hasHeatMap": False,
    }
    if t.has_distance:
        item["distance"] = act.distance_m
        speeds = _speeds(act)
        if speeds:
            item["averageSpeed"], item["maxSpeed"] = speeds
    if act.has_gps:
        item["elevationGain"] = act.elevation_gain
        item["elevationLoss"] = round(act.elevation_gain * 0.97, 1)
        item["startLatitude"] = act.place.lat
        item["startLongitude"] = act.place.lon
        item["locationName"] = act.place.name
    if act.kind == "fit":
        item["deviceId"] = 3_000_000_000 + act.device_product
        item["manufacturer"] = "GARMIN"
    if t.key in ("running", "trail_running", "walking", "hiking"):
        item["steps"] = int(act.duration_s / 60 * t.cadence[0] * 2)
    return _report_odd_values(act, item)


def _report_odd_values(act: Activity, summary: dict[str, Any]) -> dict[str, Any]:
    """The summary as Garmin would send it for an odd activity (the file stays sound)."""
    if act.odd == "infinite_duration":
        summary.update(duration=math.inf, elapsedDuration=math.inf, movingDuration=math.inf)
    elif act.odd == "infinite_distance":
        summary.update(distance=math.inf, averageSpeed=math.inf, maxSpeed=math.inf)
    return summary


def activity_uuid(act: Activity) -> str:
    return str(uuid.UUID(int=random.Random(f"uuid:{act.activity_id}").getrandbits(128)))


def _from_track(act: Activity, track: FitActivity) -> dict[str, Any]:
    """The details' measures that come from the samples (as the real detail has them)."""
    heart = [r.heart_rate for r in track.records]
    extra: dict[str, Any] = {
        "minHR": float(min(heart)),
        "bmrCalories": float(round(act.duration_s / 60 * 1.45)),
        "trainingEffect": round(min(5.0, act.duration_s / 1200 + (act.avg_hr - 100) / 40), 1),
        "anaerobicTrainingEffect": 0.0,
        "activityTrainingLoad": round(act.duration_s / 60 * act.avg_hr / 120, 2),
        "moderateIntensityMinutes": int(act.duration_s // 600),
        "vigorousIntensityMinutes": int(act.duration_s // 120),
        "minActivityLapDuration": round(act.duration_s / max(1, len(track.laps)), 3),
    }
    altitudes = [r.altitude_m for r in track.records if r.altitude_m is not None]
    if altitudes:
        extra["maxElevation"], extra["minElevation"] = max(altitudes), min(altitudes)
    positions = [(r.lat, r.lon) for r in track.records if r.lat is not None]
    if positions:
        extra["endLatitude"], extra["endLongitude"] = positions[-1]
    if act.type.has_distance and act.duration_s > 0:
        extra["averageMovingSpeed"] = act.distance_m / max(1.0, float(int(act.duration_s * 0.97)))
    if act.type.key in ("running", "trail_running", "walking", "hiking"):
        extra["steps"] = int(act.duration_s / 60 * act.type.cadence[0] * 2)
    return extra


def detail(act: Activity, account: Account, track: FitActivity | None = None) -> dict[str, Any]:
    """The ``/activity-service/activity/{id}`` body (shaped on a real one: the reference
    fixture ``garmin/activity_detail_sample.json``); ``track`` adds what the samples give."""
    t = act.type
    summary: dict[str, Any] = {
        "startTimeLocal": _detail_time(act.start_local),
        "startTimeGMT": _detail_time(act.start_utc),
        "duration": act.duration_s,
        "movingDuration": float(int(act.duration_s * 0.97)),
        "elapsedDuration": act.elapsed_s,
        "calories": float(act.calories),
        "averageHR": float(act.avg_hr),
        "maxHR": float(act.max_hr),
    }
    if t.has_distance:
        summary["distance"] = act.distance_m
        speeds = _speeds(act)
        if speeds:
            summary["averageSpeed"], summary["maxSpeed"] = speeds
    if act.has_gps:
        summary["startLatitude"] = act.place.lat
        summary["startLongitude"] = act.place.lon
        summary["elevationGain"] = act.elevation_gain
        summary["elevationLoss"] = round(act.elevation_gain * 0.97, 1)
    if track is not None:
        summary.update(_from_track(act, track))
    file_format = None if act.kind == "manual" else {
        "formatId": {"fit": 7, "gpx": 1, "tcx": 2}[act.kind],
        "formatKey": act.kind,
    }  # fmt: skip
    body: dict[str, Any] = {
        "activityId": act.activity_id,
        "activityUUID": {"uuid": activity_uuid(act)},
        "activityName": act.name,
        "userProfileId": account.profile_id,
        "isMultiSportParent": False,
        "activityTypeDTO": _type_json(t),
        "eventTypeDTO": {"typeId": 9, "typeKey": "uncategorized", "sortOrder": 10},
        "accessControlRuleDTO": {"typeId": 2, "typeKey": "private"},
        "timeZoneUnitDTO": {
            "unitId": act.place.tz_id,
            "unitKey": act.place.tz,
            "factor": 0.0,
            "timeZone": act.place.tz,
        },
        "metadataDTO": {
            "isOriginal": act.kind != "manual",
            "deviceApplicationInstallationId": 1_000_000 + act.device_product,
            "agentApplicationInstallationId": None,
            "agentString": None,
            "fileFormat": file_format,
            "associatedCourseId": None,
            "lastUpdateDate": _detail_time(act.uploaded_utc),
            "uploadedDate": _detail_time(act.uploaded_utc),
            "videoUrl": None,
            "hasPolyline": act.has_gps,
            "hasChartData": act.kind != "manual",
            "userInfoDto": {
                "userProfilePk": account.profile_id,
                "displayname": account.display_name,
                "fullname": account.full_name,
                "userPro": False,
            },
            "childIds": [],
            "childActivityTypes": [],
            "activityImages": [],
            "manufacturer": "GARMIN" if act.kind == "fit" else None,
            "lapCount": act.lap_count,
            "hasSplits": act.kind == "fit",
            "personalRecord": False,
            "manualActivity": act.kind == "manual",
            "favorite": False,
            "trimmed": False,
            "gcj02": False,
        },
        "summaryDTO": _report_odd_values(act, summary),
    }
    if act.has_gps:
        body["locationName"] = act.place.name
    if act.kind != "manual":
        body["metadataDTO"]["deviceMetaDataDTO"] = {
            "deviceId": str(3_000_000_000 + act.device_product),
            "deviceTypePk": act.device_product,
            "deviceVersionPk": 1_000_000 + act.device_product,
        }
        body["splitSummaries"] = [
            {
                "distance": act.distance_m if t.has_distance else 0.0,
                "duration": act.duration_s,
                "movingDuration": summary["movingDuration"],
                "calories": float(act.calories),
                "averageHR": float(act.avg_hr),
                "maxHR": float(act.max_hr),
                "splitType": "INTERVAL_ACTIVE",
                "noOfSplits": 1,
            }
        ]
    return body


def parse_day(value: str) -> date:
    """YYYY-MM-DD, strictly (raises ValueError otherwise)."""
    if len(value) != 10:
        raise ValueError(value)
    return date.fromisoformat(value)
