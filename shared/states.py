"""Download states grouped the way people count them: one definition for the CLI and the dashboard.

"Missing" means not archived yet and still on its way: `missing`, `queued`
or `downloading` — what `download --missing` and the next sync fetch.
`failed` is not missing: those activities gave up after
GARMINSYNC_MAX_ATTEMPTS and wait for a retry (`garminsync download ID`, the
dashboard's "Download again" and its bulk "missing & failed"). `no_file`
activities have nothing to archive. So archived + missing + failed + no file
is the total, in `garminsync list --missing` and in every number and chart of
the dashboard (docs/DECISIONS.md, 17).
"""

from __future__ import annotations

from shared.models import DownloadState

MISSING_STATES: tuple[str, ...] = (DownloadState.MISSING, DownloadState.QUEUED, DownloadState.DOWNLOADING)
RETRYABLE_STATES: tuple[str, ...] = (DownloadState.MISSING, DownloadState.FAILED)
IN_FLIGHT_STATES: tuple[str, ...] = (DownloadState.QUEUED, DownloadState.DOWNLOADING)

# The four numbers people are shown, each a set of states; together they are every state.
GROUPS: dict[str, tuple[str, ...]] = {
    "archived": (DownloadState.DOWNLOADED,),
    "missing": MISSING_STATES,
    "failed": (DownloadState.FAILED,),
    "no_file": (DownloadState.NO_FILE,),
}
GROUP_OF: dict[str, str] = {state: group for group, states in GROUPS.items() for state in states}


def counters(counts: dict[str, int]) -> dict[str, int]:
    """Activities per state → the four numbers and the total."""
    numbers = {group: sum(counts.get(state, 0) for state in states) for group, states in GROUPS.items()}
    return {**numbers, "total": sum(counts.values())}
