"""The simulator's in-memory world: one account, its activities, tokens,
faults, configuration and counters. Every method is thread-safe, because the
HTTP server answers from many threads while tests poke at the same object.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from . import data, formats
from .data import Account, Activity
from .faults import Faults
from .fit_encoder import FitActivity, corrupt_crc, encode_activity
from .stats import DEFAULT_WINDOWS, Stats
from .tokens import DEFAULT_CLIENT_ID, TokenAuthority

DEFAULT_EMAIL = "athlete@example.com"
DEFAULT_PASSWORD = "correct-horse"  # noqa: S105 - the simulator's documented test login
MFA_CODE = "123456"
MAX_LIST_LIMIT = 1000
_FILE_CACHE_SIZE = 1024


@dataclass
class SsoSession:
    """A browser/app session on the SSO, keyed by its SESSION cookie."""

    created: float
    mfa_pending: bool = False
    service_url: str = ""


class RateLimiter:
    """Garmin's own (simulated) limit: sliding windows over all requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self.per_second: int | None = None
        self.per_minute: int | None = None
        self.retry_after: float | None = None
        self.body = "json"

    def configure(self, spec: dict[str, Any] | None) -> None:
        spec = spec or {}
        with self._lock:
            self.per_second = _opt_int(spec.get("per_second"), "per_second")
            self.per_minute = _opt_int(spec.get("per_minute"), "per_minute")
            retry = spec.get("retry_after")
            self.retry_after = None if retry is None else float(retry)
            body = spec.get("body", "json")
            if body not in ("json", "html"):
                raise ValueError("rate_limit.body must be json or html")
            self.body = body

    def describe(self) -> dict[str, Any] | None:
        if self.per_second is None and self.per_minute is None:
            return None
        return {
            "per_second": self.per_second,
            "per_minute": self.per_minute,
            "retry_after": self.retry_after,
            "body": self.body,
        }

    def allow(self, now: float) -> bool:
        """Count this request; False if it goes beyond a configured window."""
        with self._lock:
            if self.per_second is None and self.per_minute is None:
                return True
            while self._times and now - self._times[0] >= 60:
                self._times.popleft()
            self._times.append(now)
            if self.per_minute is not None and len(self._times) > self.per_minute:
                return False
            if self.per_second is not None:
                recent = sum(1 for t in self._times if now - t < 1.0)
                if recent > self.per_second:
                    return False
            return True


def _opt_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


class SimState:
    """Everything the simulator knows. Deterministic from ``seed``."""

    def __init__(
        self,
        activities: int = 300,
        seed: int = 1,
        *,
        latency_ms: int = 0,
        latency_jitter_ms: int = 0,
        token_ttl: int = 3600,
        email: str = DEFAULT_EMAIL,
        password: str = DEFAULT_PASSWORD,
        mfa: bool = False,
        display_name: str | None = None,
        full_name: str | None = None,
        gpx_ratio: float = 0.02,
        tcx_ratio: float = 0.02,
        manual_ratio: float = 0.02,
        manual_status: int = 404,
        fit_records: int = 100,
        hostile_names: int = -1,
        years: float = 3.0,
        now: datetime | None = None,
        rate_limit: dict[str, Any] | None = None,
    ) -> None:
        self.seed = seed
        self._lock = threading.RLock()
        self.account: Account = data.make_account(seed, email, password, mfa, display_name, full_name)
        self._ratios = {
            "gpx_ratio": gpx_ratio,
            "tcx_ratio": tcx_ratio,
            "manual_ratio": manual_ratio,
        }
        self._rng = random.Random(f"state:{seed}")
        ref = now or datetime.now(UTC)
        generated = data.generate_activities(
            seed, activities, ref, hostile_names=hostile_names, years=years, **self._ratios
        )
        self._activities: list[Activity] = generated  # oldest first
        self._by_id: dict[int, Activity] = {a.activity_id: a for a in generated}
        self.fit_records = fit_records
        self.manual_status = manual_status
        self.latency_ms = latency_ms
        self.latency_jitter_ms = latency_jitter_ms
        self.garmin_guid = str(uuid.UUID(int=random.Random(f"guid:{seed}").getrandbits(128)))
        self.tokens = TokenAuthority(token_ttl, self.garmin_guid)
        self.faults = Faults(seed)
        self.stats_counter = Stats()
        self.rate_limiter = RateLimiter()
        self.rate_limiter.configure(rate_limit)
        self._sessions: dict[str, SsoSession] = {}
        self._files: OrderedDict[int, tuple[str, bytes]] = OrderedDict()

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
                ratios = self._ratios
                if kind is not None:
                    ratios = {f"{k}_ratio": 1.0 if k == kind else 0.0 for k in ("gpx", "tcx", "manual")}
                act = data.new_activity(self._rng, last, datetime.now(UTC), **ratios)
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
        return data.make_track(act, self.seed, self.fit_records)

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
        track = data.make_track(act, self.seed, self.fit_records)
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
        """The download-service ZIP, optionally damaged (``broken_zip``/``corrupt_fit``)."""
        act = self._require(activity_id)
        name, content = self.original_file(activity_id)
        if fault == "corrupt_fit" and name.endswith(".fit"):
            content = corrupt_crc(content)
        body = formats.zip_single(name, content, act.uploaded_utc)
        if fault == "broken_zip":
            body = formats.truncate_zip(body)
        return body

    def export(self, activity_id: int, fmt: str) -> bytes:
        """Garmin's GPX/TCX export (generated from the same track)."""
        act = self._require(activity_id)
        track = data.make_track(act, self.seed, self.fit_records)
        return formats.gpx(act, track) if fmt == "gpx" else formats.tcx(act, track)

    def _require(self, activity_id: int) -> Activity:
        act = self.get_activity(activity_id)
        if act is None:
            raise KeyError(activity_id)
        return act

    # -- SSO sessions -------------------------------------------------------- #

    def new_sso_session(self) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[sid] = SsoSession(time.time())
        return sid

    def sso_session(self, sid: str | None) -> SsoSession | None:
        with self._lock:
            return self._sessions.get(sid) if sid else None

    def check_credentials(self, username: str, password: str) -> bool:
        acc = self.account
        return secrets.compare_digest(
            username.strip().lower().encode(), acc.email.lower().encode()
        ) and secrets.compare_digest(password.encode(), acc.password.encode())

    # -- tokens -------------------------------------------------------------- #

    def issue_tokens(self, client_id: str = DEFAULT_CLIENT_ID, ttl: int | None = None) -> dict[str, str]:
        """Token JSON for ``Garmin().login(tokenstore=json.dumps(...))``, no SSO needed."""
        body = self.tokens.issue(client_id, ttl)
        return {
            "di_token": body["access_token"],
            "di_refresh_token": body["refresh_token"],
            "di_client_id": client_id,
        }

    def revoke_refresh_tokens(self) -> int:
        return self.tokens.revoke_refresh_tokens()

    def revoke_access_tokens(self) -> None:
        self.tokens.revoke_access_tokens()

    # -- faults, config, stats --------------------------------------------- #

    def set_faults(self, spec: Any) -> dict[str, Any]:
        """Same JSON as ``POST /__sim/faults``."""
        return self.faults.apply(spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    def configure(self, **options: Any) -> dict[str, Any]:
        """Same keys as ``POST /__sim/config``; returns the resulting config."""
        known = {
            "latency_ms",
            "latency_jitter_ms",
            "token_ttl",
            "rate_limit",
            "manual_status",
            "mfa",
        }
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        for key in ("latency_ms", "latency_jitter_ms", "token_ttl", "manual_status"):
            value = options.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{key} must be a non-negative integer")
        with self._lock:
            if "rate_limit" in options:
                self.rate_limiter.configure(options["rate_limit"])
            if options.get("latency_ms") is not None:
                self.latency_ms = options["latency_ms"]
            if options.get("latency_jitter_ms") is not None:
                self.latency_jitter_ms = options["latency_jitter_ms"]
            if options.get("token_ttl") is not None:
                self.tokens.ttl_s = max(1, options["token_ttl"])
            if options.get("manual_status") is not None:
                self.manual_status = options["manual_status"]
            if options.get("mfa") is not None:
                self.account = replace(self.account, mfa=bool(options["mfa"]))
        return self.config()

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "latency_jitter_ms": self.latency_jitter_ms,
                "token_ttl": self.tokens.ttl_s,
                "rate_limit": self.rate_limiter.describe(),
                "manual_status": self.manual_status,
                "mfa": self.account.mfa,
                "fit_records": self.fit_records,
                "seed": self.seed,
                "activities": len(self._activities),
            }

    def latency_s(self) -> float:
        with self._lock:
            base, jitter = self.latency_ms, self.latency_jitter_ms
            extra = self._rng.uniform(0, jitter) if jitter else 0.0
        return (base + extra) / 1000.0

    def stats(self, windows: Sequence[float] = DEFAULT_WINDOWS) -> dict[str, Any]:
        """Counters over every non-control request (see docs/SIMULATOR.md)."""
        return self.stats_counter.snapshot(windows)

    def reset_stats(self) -> None:
        self.stats_counter.reset()
