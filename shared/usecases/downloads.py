"""Download given activities (again): `download ID`, the dashboard's retry and bulk queue.

Claiming first makes every path safe against a second click: an activity
already queued or downloading is not claimed twice.
"""

from __future__ import annotations

from shared.db import create_session
from shared.planning import claim_ids
from shared.runtime import Runtime
from shared.usecases.delivery import Delivery, Handed


def download(runtime: Runtime, delivery: Delivery, account_id: int, activity_ids: list[int]) -> Handed:
    """Claim the activities (any state but in flight; unknown ids are a UsageError) and hand
    them on; `Handed.activity_ids` is what was claimed."""
    delivery.check()
    if not activity_ids:
        return Handed(delivery.mode)
    with create_session(runtime.settings.database_url) as session:
        claimed = claim_ids(session, account_id, activity_ids)
    if not claimed:
        return Handed(delivery.mode)
    return delivery.downloads(account_id, claimed)
