"""The archive's manifest: written from the store, checked without it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared.config import Settings
from shared.manifest import check_manifest, read_manifest, write_manifest
from shared.runtime import Runtime
from shared.storage import Storage
from shared.verify import Problem


def write(runtime: Runtime) -> int:
    """Write `manifest.json` now (after `verify`); its size in bytes."""
    return write_manifest(runtime.settings.database_url, runtime.storage)


@dataclass(frozen=True)
class ManifestCheck:
    entries: list[dict[str, Any]]
    storage: Storage

    @property
    def total(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Problem | None]:
        return check_manifest(self.storage, self.entries)


def check(settings: Settings) -> ManifestCheck:
    """Every file the manifest lists, against its size and hash: needs the data dir only."""
    storage = Storage(settings.data_dir, settings.layout)
    return ManifestCheck(read_manifest(storage), storage)
