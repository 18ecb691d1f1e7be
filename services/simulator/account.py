"""One simulated Garmin account: its login, profile, catalogue, files, limit and counters.

Garmin's limits and data are per account, so each account carries its own
activities (in an id range no other account uses), its own rate limiter and
its own counters. Every method is thread-safe: the server answers from many
threads while tests poke at the same object.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import data, formats
from .data import Account, Activity
from .fit_encoder import DEFECTS, FitActivity, corrupt_crc, encode_activity
from .ratelimit import RateLimiter
from .stats import Stats

# Each account owns ids [FIRST_ACTIVITY_ID + k * ID_SPAN, ... + ID_SPAN): room
# for over 300 000 activities (ids step by at most 3 000 000) and still far
# below 2^53, so ids stay exact in JSON.
ID_SPAN = 10**12
_FILE_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Catalogue:
    """How activities are invented; the same for every account of a simulator."""

    now: datetime
    years: float
    hostile_names: int
    fit_records: int
    gpx_ratio: float
    tcx_ratio: float
    manual_ratio: float

    def ratios(self, kind: str | None = None) -> dict[str, float]:
        """The kind ratios for ``data``; with ``kind``, that kind only."""
        if kind is not None:
            return {f"{k}_ratio": 1.0 if k == kind else 0.0 for k in ("gpx", "tcx", "manual")}
        return {"gpx_ratio": self.gpx_ratio, "tcx_ratio": self.tcx_ratio, "manual_ratio": self.manual_ratio}


class AccountWorld:
    """Everything one account has upstream. Deterministic from its ``seed``."""

    def __init__(
        self,
        email: str,
        password: str,
        *,
        seed: int,
        guid: str,
        slot: int,
        catalogue: Catalogue,
        rng_key: str,
        activities: int = 0,
        rate_limit: dict[str, Any] | None = None,
        mfa: bool = False,
        display_name: str | None = None,
        full_name: str | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.profile: Account = data.make_account(seed, email, password, mfa, display_name, full_name)
        self.seed = seed
        self.guid = guid
        self.catalogue = catalogue
        self.first_id = data.FIRST_ACTIVITY_ID + slot * ID_SPAN
        self._rng = random.Random(rng_key)
        self.rate_limiter = RateLimiter(rate_limit)
        self.stats_counter = Stats()
        generated = data.generate_activities(
            seed,
            activities,
            catalogue.now,
            hostile_names=catalogue.hostile_names,
            years=catalogue.years,
            **catalogue.ratios(),
        )
        self._activities: list[Activity] = [self._in_range(a, True) for a in generated]  # oldest first
        self._by_id: dict[int, Activity] = {a.activity_id: a for a in self._activities}
        self._files: OrderedDict[int, tuple[str, bytes]] = OrderedDict()

    @property
    def email(self) -> str:
        return self.profile.email

    def _in_range(self, act: Activity, numbered_from_first: bool) -> Activity:
        """Move an id ``data`` numbered from FIRST_ACTIVITY_ID into this account's range.

        ``data`` knows one catalogue; shifting here keeps ids unique across
        accounts without touching how activities are invented.
        """
        shift = self.first_id - data.FIRST_ACTIVITY_ID
        if numbered_from_first and shift:
            act = replace(act, activity_id=act.activity_id + shift)
        if act.storable and act.activity_id >= self.first_id + ID_SPAN:
            raise ValueError(f"{self.email}: too many activities for one account's id range")
        return act

    def matches(self, username: str, password: str) -> bool:
        """Garmin compares the email without case and the password exactly."""
        return secrets.compare_digest(
            username.strip().lower().encode(), self.profile.email.lower().encode()
        ) and secrets.compare_digest(password.encode(), self.profile.password.encode())

    def set_mfa(self, on: bool) -> None:
        with self._lock:
            self.profile = replace(self.profile, mfa=on)

    # -- activities -------------------------------------------------------- #

    def activities(self) -> list[Activity]:
        """All activities, newest first (the list endpoint's order)."""
        with self._lock:
            return list(reversed(self._activities))

    def activity_ids(self) -> list[int]:
        return [a.activity_id for a in self.activities()]

    def get_activity(self, activity_id: int) -> Activity | None:
        with self._lock:
            return self._by_id.get(activity_id)

    def ids_by_kind(self, kind: str) -> list[int]:
        return [a.activity_id for a in self.activities() if a.kind == kind]

    def add_activities(self, count: int, kind: str | None = None) -> list[int]:
        """Add ``count`` new activities (newest), in upload order; returns ids."""
        if kind is not None and kind not in data.KINDS:
            raise ValueError(f"kind must be one of {data.KINDS}")
        ids = []
        with self._lock:
            for _ in range(count):
                last = self._activities[-1] if self._activities else None
                act = data.new_activity(self._rng, last, datetime.now(UTC), **self.catalogue.ratios(kind))
                act = self._in_range(act, last is None)
                self._activities.append(act)
                self._by_id[act.activity_id] = act
                ids.append(act.activity_id)
        return ids

    def delete_activity(self, activity_id: int) -> bool:
        """Delete upstream (as the athlete would on Garmin Connect)."""
        with self._lock:
            act = self._by_id.pop(activity_id, None)
            if act is None:
                return False
            self._activities.remove(act)
            self._files.pop(activity_id, None)
            return True

    def edit_activity(
        self,
        activity_id: int,
        *,
        name: str | None = None,
        type_key: str | None = None,
        duration_s: float | None = None,
        start_shift_s: float | None = None,
    ) -> Activity | None:
        """Change an activity upstream, as the athlete would on Garmin Connect: a new name or
        type changes only the summary; a new duration (a trim, a corrected upload) or start
        changes the summary and the original file. None for an unknown id."""
        if type_key is not None and type_key not in data.TYPES:
            raise ValueError(f"type must be one of {sorted(data.TYPES)}")
        if duration_s is not None and not 1 <= duration_s <= 86400 * 7:
            raise ValueError("duration_s must be between 1 and 604800")
        if start_shift_s is not None and abs(start_shift_s) > 86400:
            raise ValueError("start_shift_s must be within a day")
        with self._lock:
            act = self._by_id.get(activity_id)
            if act is None:
                return None
            changes: dict[str, Any] = {}
            if name is not None:
                changes["name"] = name
            if type_key is not None:
                changes["type_key"] = type_key
            if duration_s is not None:
                changes["duration_s"] = round(float(duration_s), 3)
            if start_shift_s is not None:
                changes["start_utc"] = act.start_utc + timedelta(seconds=start_shift_s)
            if duration_s is not None or start_shift_s is not None:
                changes["uploaded_utc"] = max(act.uploaded_utc, datetime.now(UTC).replace(microsecond=0))
            edited = replace(act, **changes)
            self._activities[self._activities.index(act)] = edited
            self._by_id[activity_id] = edited
            self._files.pop(activity_id, None)
            return edited

    def search(
        self,
        start: int = 0,
        limit: int = 20,
        activity_type: str | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        ascending: bool = False,
    ) -> list[Activity]:
        """The list endpoint's filtering and paging."""
        acts = self.activities()
        if ascending:
            acts.reverse()
        out = []
        for a in acts:
            if activity_type and not data.type_matches(a.type, activity_type):
                continue
            day = a.start_local.date()
            if start_date and day < start_date:
                continue
            if end_date and day > end_date:
                continue
            out.append(a)
        return out[start : start + limit]

    # -- files ------------------------------------------------------------- #

    def track(self, activity_id: int) -> FitActivity:
        """The samples written into the activity's FIT/GPX/TCX file."""
        act = self._require(activity_id)
        return data.make_track(act, self.seed, self.catalogue.fit_records)

    def fit_bytes(self, activity_id: int) -> bytes:
        return encode_activity(self.track(activity_id))

    def original_file(self, activity_id: int) -> tuple[str, bytes]:
        """(entry name, content) of the uploaded original; KeyError if none."""
        with self._lock:
            cached = self._files.get(activity_id)
            if cached is not None:
                self._files.move_to_end(activity_id)
                return cached
        act = self._require(activity_id)
        if act.kind == "manual":
            raise KeyError(activity_id)
        track = self.track(activity_id)
        if act.kind == "gpx":
            content = formats.gpx(act, track)
        elif act.kind == "tcx":
            content = formats.tcx(act, track)
        else:
            content = encode_activity(track)
        entry = (f"{activity_id}_ACTIVITY.{act.kind}", content)
        with self._lock:
            self._files[activity_id] = entry
            while len(self._files) > _FILE_CACHE_SIZE:
                self._files.popitem(last=False)
        return entry

    def original_zip(self, activity_id: int, fault: str | None = None) -> bytes:
        """The download-service ZIP, optionally damaged (``faults.FILE_FAULTS``)."""
        act = self._require(activity_id)
        name, content = self.original_file(activity_id)
        if name.endswith(".fit"):
            content = self._faulty_fit(activity_id, content, fault)
        body = formats.zip_single(name, content, act.uploaded_utc)
        if fault == "broken_zip":
            body = formats.truncate_zip(body)
        return body

    def _faulty_fit(self, activity_id: int, content: bytes, fault: str | None) -> bytes:
        """The FIT as the fault wants it: a wrong CRC, another activity's file, or a DEFECT."""
        if fault == "corrupt_fit":
            return corrupt_crc(content)
        if fault == "other_activity":
            others = [i for i in self.ids_by_kind("fit") if i != activity_id]
            return self.original_file(others[0])[1] if others else content
        if fault in DEFECTS:
            return encode_activity(replace(self.track(activity_id), defect=fault))
        return content

    def export(self, activity_id: int, fmt: str, fault: str | None = None) -> bytes:
        """Garmin's GPX/TCX export (generated from the same track), optionally damaged
        (``faults.EXPORT_FAULTS``; ``wrong_activity`` serves another activity's export)."""
        act = self._require(activity_id)
        render = formats.gpx if fmt == "gpx" else formats.tcx
        body = render(act, self.track(activity_id))
        if fault is None:
            return body
        other = next((a for a in self.activities() if a.activity_id != activity_id), act)
        return formats.damaged_export(body, fault, render(other, self.track(other.activity_id)))

    def _require(self, activity_id: int) -> Activity:
        act = self.get_activity(activity_id)
        if act is None:
            raise KeyError(activity_id)
        return act

    # -- control ----------------------------------------------------------- #

    def describe(self) -> dict[str, Any]:
        """What ``GET /__sim/accounts`` and ``/__sim/account`` show of this account."""
        with self._lock:
            acc, count = self.profile, len(self._activities)
        return {
            "email": acc.email,
            "activities": count,
            "rate_limit": self.rate_limiter.describe(),
            "mfa": acc.mfa,
            "displayName": acc.display_name,
            "fullName": acc.full_name,
            "profileId": acc.profile_id,
            "garminGUID": self.guid,
            "seed": self.seed,
        }
