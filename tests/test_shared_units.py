"""`shared/` without any server: FIT checks, names, settings, rate windows, claims."""

from __future__ import annotations

import email.utils
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest

from shared.config import load_settings, normalize_database_url
from shared.coordination import LocalCoordinator
from shared.errors import BadArchive, ConfigError, StorageError
from shared.fit import check_fit, fit_crc, sniff_format
from shared.garmin import parse_retry_after, unzip_original
from shared.ratelimit import RateLimiter
from shared.ratelimit_spec import parse_rate
from shared.storage import Storage, sanitize
from tests.conftest import FIXTURES, FIXTURES_ABSENT, fixture_file

FIT_FIXTURES = sorted((FIXTURES / "garmin" / "fit").glob("*.fit"))


@pytest.mark.skipif(not FIT_FIXTURES, reason=FIXTURES_ABSENT)
@pytest.mark.parametrize("path", FIT_FIXTURES, ids=lambda p: p.name)
def test_real_device_fit_files_pass(path: Path) -> None:
    assert check_fit(path.read_bytes()).ok


def test_real_garmin_zip_unpacks_to_a_valid_fit() -> None:
    original = unzip_original(fixture_file("garmin", "original_11998957007.zip").read_bytes())
    assert original.entry_name == "11998957007_ACTIVITY.fit"
    assert sniff_format(original.entry_name, original.data) == "fit"
    assert check_fit(original.data).ok


def minimal_fit() -> bytes:
    header = bytes([14, 0x20]) + (2132).to_bytes(2, "little") + (0).to_bytes(4, "little") + b".FIT"
    header += fit_crc(header).to_bytes(2, "little")
    return header + fit_crc(header).to_bytes(2, "little")


def test_fit_check_catches_every_kind_of_damage() -> None:
    good = minimal_fit()
    assert check_fit(good).ok
    assert check_fit(good + good).files == 2  # chained FIT files
    assert "CRC" in check_fit(good[:-1] + bytes([good[-1] ^ 1])).reason
    assert not check_fit(good[:-3]).ok
    assert not check_fit(b"").ok
    assert "signature" in check_fit(good[:8] + b"XFIT" + good[12:]).reason
    wrong_header_crc = good[:12] + b"\x01\x00" + good[14:]
    assert "header CRC" in check_fit(wrong_header_crc).reason


def test_sniffing_tells_fit_from_gpx_and_tcx() -> None:
    assert sniff_format("x.fit", minimal_fit()) == "fit"
    assert sniff_format("x.fit", b'<?xml version="1.0"?><gpx version="1.1">') == "gpx"
    assert sniff_format("x", b"<?xml?>\n<TrainingCenterDatabase>") == "tcx"
    assert sniff_format("x.weird/../name", b"junk") == "name"


def test_broken_zip_is_a_transient_bad_archive() -> None:
    with pytest.raises(BadArchive):
        unzip_original(b"PK\x03\x04 truncated")
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("1_ACTIVITY.fit", minimal_fit())
    assert unzip_original(buffer.getvalue()).data == minimal_fit()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("Run: 5k / tempo?", "Run_5k_tempo"),
        ("Café ☕ ride", "Cafe_ride"),
        ("....", "activity"),
        (None, "activity"),
    ],
)
def test_sanitize(name: str | None, expected: str) -> None:
    assert sanitize(name) == expected


def test_layout_never_escapes_the_data_dir(tmp_path: Path) -> None:
    storage = Storage(tmp_path, "{type}/{year}/{name}_{id}.{ext}")
    start = datetime(2026, 1, 8, 14, 10, 21, tzinfo=UTC)
    rel = storage.relative_path(21482825013, start, "fit", "../../x", "../../../etc/passwd")
    assert rel == "x/2026/etc_passwd_21482825013.fit"
    default = Storage(tmp_path, "fit/activity_{id}_{timestamp}.{ext}")
    assert default.relative_path(1, start, "fit") == "fit/activity_1_2026-01-08T14-10-21Z.fit"


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    storage = Storage(tmp_path, "fit/{id}.{ext}")
    (tmp_path / "fit").write_text("blocks the directory")
    with pytest.raises(StorageError):
        storage.write_atomic("fit/1.fit", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit"]
    (tmp_path / "fit").unlink()
    stored = storage.write_atomic("fit/1.fit", b"data")
    assert stored.size == 4 and (tmp_path / "fit" / "1.fit").read_bytes() == b"data"
    assert [p.name for p in (tmp_path / "fit").iterdir()] == ["1.fit"]


def test_settings_defaults_and_postgres_url(tmp_path: Path) -> None:
    settings = load_settings({"GARMINSYNC_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/garmin.db"
    assert str(settings.rate) == "30/minute" and settings.embedded
    assert normalize_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert "password" not in repr(load_settings({"GARMIN_PASSWORD": "password"}))


@pytest.mark.parametrize("text", ["fast", "0/second", "30/fortnight", "-1/minute"])
def test_bad_rate_limits_are_explained(text: str) -> None:
    with pytest.raises(ConfigError, match="GARMINSYNC_RATE_LIMIT"):
        load_settings({"GARMINSYNC_RATE_LIMIT": text})


def test_rate_parsing() -> None:
    assert parse_rate("30/minute").per_second == 0.5
    assert parse_rate("2 per second").amount == 2
    assert parse_rate("100/10 seconds").period == 10


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date past: no wait (not None)
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 < (parse_retry_after(later) or 0) <= 90


def test_local_limiter_holds_the_window_across_threads() -> None:
    limiter = RateLimiter(LocalCoordinator(), parse_rate("10/second"), margin_ms=0)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            limiter.acquire("acct")
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 30
    assert all(stamps[i + 10] - stamps[i] >= 0.99 for i in range(len(stamps) - 10))


def test_cooldown_and_growing_backoff() -> None:
    limiter = RateLimiter(LocalCoordinator(), parse_rate("100/second"), cooldown_base_s=2)
    assert limiter.note_429("a", retry_after=None) == 2
    assert limiter.note_429("a", retry_after=None) == 4
    assert limiter.note_429("a", retry_after=1.5) == 1.5
    assert limiter.cooldown_remaining("a") > 3  # a shorter Retry-After never shortens it
    assert limiter.cooldown_remaining("b") == 0
    from shared.errors import RateLimited

    with pytest.raises(RateLimited):
        limiter.acquire("a", max_wait=0.5)


def test_old_partials_are_cleaned_young_ones_kept(tmp_path: Path) -> None:
    import os

    storage = Storage(tmp_path, "fit/{id}.{ext}")
    (tmp_path / "fit").mkdir()
    old = tmp_path / "fit" / ".partial-1.fit.abc"
    young = tmp_path / "fit" / ".partial-2.fit.def"
    from shared.storage import _HOST

    dead = tmp_path / "fit" / f".partial-{_HOST}.999999999.ab.3.fit"  # no such pid
    mine = tmp_path / "fit" / f".partial-{_HOST}.{os.getpid()}.cd.4.fit"
    for path in (old, young, dead, mine):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert storage.remove_partials() == 2
    assert not old.exists() and not dead.exists()
    assert young.exists() and mine.exists()


def test_runtime_applies_the_rate_settings(tmp_path: Path) -> None:
    from shared.runtime import Runtime

    settings = load_settings({
        "GARMINSYNC_DATA_DIR": str(tmp_path), "GARMINSYNC_RATE_LIMIT": "60/6 seconds",
        "GARMINSYNC_RATE_MARGIN_MS": "250", "GARMINSYNC_COOLDOWN": "7",
    })  # fmt: skip
    limiter = Runtime.build(settings).limiter
    assert (limiter.rate.amount, limiter.window_ms) == (60, 6250)
    assert limiter.cooldown_base_s == 7
