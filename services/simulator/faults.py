"""Injected failures: HTTP status rules and activity-level bad files.

Rules model what Garmin and Cloudflare do to clients (429 with or without
Retry-After, HTML error pages, 5xx, slow answers); activity faults model bad
payloads that arrive with a 200 (a truncated ZIP, a FIT whose CRC is wrong).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .fit_encoder import DEFECTS

MATCHES = (
    "any",
    "list",
    "count",
    "download",
    "export",
    "detail",
    "token",
    "token_refresh",
    "token_exchange",
    "login",
    "profile",
    "other",
)
BODIES = ("json", "html", "empty")
# Bad payloads served with a 200. The original's ZIP: cut, a wrong CRC, or a file whose CRC is
# sound but whose content is not the activity's recording (another activity's file, or a DEFECT).
FILE_FAULTS = ("broken_zip", "corrupt_fit", "other_activity", *DEFECTS)
EXPORT_FAULTS = ("broken_xml", "xml_bomb", "xml_external", "wrong_activity")  # GPX/TCX exports
ACTIVITY_FAULTS = FILE_FAULTS + EXPORT_FAULTS


class FaultSpecError(ValueError):
    """A fault specification the simulator cannot understand (answered 400)."""


@dataclass
class FaultRule:
    """One rule; ``remaining`` -1 means forever, None means probability-based."""

    match: str
    status: int | None
    remaining: int | None
    probability: float | None
    retry_after: float | None
    body: str
    ids: list[int] | None
    delay_ms: int
    fired: int = 0

    def applies(self, kind: str, activity_id: int | None) -> bool:
        if self.match == "token":
            ok = kind in ("token_refresh", "token_exchange")
        else:
            ok = self.match in ("any", kind)
        if ok and self.ids is not None:
            ok = activity_id is not None and activity_id in self.ids
        return ok


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSpecError(f"{name} must be a number")
    return int(value)


def parse_rule(spec: Mapping[str, Any]) -> FaultRule:
    """Validate one rule from its JSON form."""
    unknown = set(spec) - {
        "match", "status", "count", "probability", "retry_after", "body", "ids", "delay_ms",
    }  # fmt: skip
    if unknown:
        raise FaultSpecError(f"unknown rule keys: {sorted(unknown)}")
    match = spec.get("match", "any")
    if match not in MATCHES:
        raise FaultSpecError(f"match must be one of {MATCHES}")
    status = _int_or_none(spec.get("status"), "status")
    if status is not None and not 100 <= status <= 599:
        raise FaultSpecError("status must be an HTTP status")
    delay_ms = _int_or_none(spec.get("delay_ms"), "delay_ms") or 0
    if status is None and not delay_ms:
        raise FaultSpecError("a rule needs a status or a delay_ms")
    probability = spec.get("probability")
    if probability is not None:
        if not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise FaultSpecError("probability must be between 0 and 1")
        probability = float(probability)
    count = _int_or_none(spec.get("count"), "count")
    if probability is None and count is None:
        count = 1
    if count is not None and count < -1:
        raise FaultSpecError("count must be >= -1")
    retry_after = spec.get("retry_after")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, int | float)
    ):
        raise FaultSpecError("retry_after must be a number of seconds or null")
    body = spec.get("body", "json")
    if body not in BODIES:
        raise FaultSpecError(f"body must be one of {BODIES}")
    ids = spec.get("ids")
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise FaultSpecError("ids must be a list of activity ids")
        ids = [int(i) for i in ids]
    return FaultRule(
        match=match,
        status=status,
        remaining=None if probability is not None and count is None else count,
        probability=probability,
        retry_after=None if retry_after is None else float(retry_after),
        body=body,
        ids=ids,
        delay_ms=delay_ms,
    )


class Faults:
    """The current fault set. Thread-safe; probability draws are seeded."""

    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(f"faults:{seed}")
        self._rules: list[FaultRule] = []
        self._file_faults: dict[str, dict[int, int]] = {name: {} for name in ACTIVITY_FAULTS}

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            for faults in self._file_faults.values():
                faults.clear()

    def apply(self, spec: Any) -> dict[str, Any]:
        """Add rules and/or activity faults; ``{"replace": true}`` clears first.

        Accepts a single rule, a list of rules, or an object with ``rules``,
        activity faults (``FILE_FAULTS`` for the original;
        ``broken_xml``, ``xml_bomb``, ``xml_external``, ``wrong_activity`` for
        the GPX/TCX exports) and ``count`` (for the activity faults).
        """
        rules: list[FaultRule] = []
        files: dict[str, dict[int, int]] = {name: {} for name in ACTIVITY_FAULTS}
        replace = False
        if isinstance(spec, list):
            rules = [parse_rule(_mapping(r)) for r in spec]
        elif isinstance(spec, Mapping):
            if {"match", "status", "delay_ms"} & set(spec):
                rules = [parse_rule(spec)]
            else:
                unknown = set(spec) - {"rules", "count", "replace", *ACTIVITY_FAULTS}
                if unknown:
                    raise FaultSpecError(f"unknown keys: {sorted(unknown)}")
                replace = bool(spec.get("replace", False))
                rules = [parse_rule(_mapping(r)) for r in spec.get("rules") or []]
                count = _int_or_none(spec.get("count", 1), "count")
                if count is None or count == 0 or count < -1:
                    raise FaultSpecError("count must be a positive number or -1")
                for name in ACTIVITY_FAULTS:
                    ids = spec.get(name) or []
                    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                        raise FaultSpecError(f"{name} must be a list of activity ids")
                    files[name] = {int(i): count for i in ids}
        else:
            raise FaultSpecError("expected a rule, a list of rules or an object")
        with self._lock:
            if replace:
                self._rules.clear()
                for faults in self._file_faults.values():
                    faults.clear()
            self._rules.extend(rules)
            for name, ids in files.items():
                self._file_faults[name].update(ids)
        return self.describe()

    def pick(self, kind: str, activity_id: int | None) -> FaultRule | None:
        """The first rule that fires for this request (consuming one use)."""
        with self._lock:
            for rule in self._rules:
                if not rule.applies(kind, activity_id):
                    continue
                if rule.remaining is not None:
                    if rule.remaining == 0:
                        continue
                    if rule.remaining > 0:
                        rule.remaining -= 1
                elif rule.probability is None or self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return FaultRule(**asdict(rule))
        return None

    def take_file_fault(self, activity_id: int, names: tuple[str, ...] = FILE_FAULTS) -> str | None:
        """The first of ``names`` armed for this activity (``FILE_FAULTS`` for
        the original; ``EXPORT_FAULTS`` for an export), using it up."""
        with self._lock:
            for name in names:
                left = self._file_faults[name].get(activity_id)
                if left is None or left == 0:
                    continue
                if left > 0:
                    self._file_faults[name][activity_id] = left - 1
                return name
        return None

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [asdict(r) for r in self._rules],
                **{name: {str(k): v for k, v in self._file_faults[name].items()} for name in ACTIVITY_FAULTS},
            }


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FaultSpecError("each rule must be an object")
    return value
