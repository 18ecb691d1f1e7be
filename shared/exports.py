"""Garmin's GPX and TCX exports: the one check each passes before it joins the archive.

The XML comes from the network, so it is parsed with defusedxml and no DTD at
all: an entity bomb or an external entity is refused before it expands. The
document must be of its format (a `gpx` or `TrainingCenterDatabase` root) and
of this activity: Garmin writes the activity's start time as the GPX
`metadata/time` and as the TCX `Activity/Id`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from shared.errors import BadExport

EXTRA_FORMATS = ("gpx", "tcx")
REFUSED = {
    "DTDForbidden": "a DTD",
    "EntitiesForbidden": "entities",
    "ExternalReferenceForbidden": "an external reference",
}
ROOTS = {"gpx": "gpx", "tcx": "TrainingCenterDatabase"}
# Where each format keeps the activity's start time: element names from the root, any namespace.
START_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "gpx": (("metadata", "time"), ("time",)),  # GPX 1.1, then GPX 1.0
    "tcx": (("Activities", "Activity", "Id"),),
}


def _local(tag: object) -> str:
    """`{namespace}name` → `name` (comments and processing instructions have no str tag)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(element: Element, name: str) -> Element | None:
    return next((child for child in element if _local(child.tag) == name), None)


def _start_time(root: Element, fmt: str) -> datetime | None:
    for path in START_PATHS[fmt]:
        element: Element | None = root
        for name in path:
            element = _child(element, name) if element is not None else None
        text = (element.text or "").strip() if element is not None else ""
        if text:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return None


def check_export(fmt: str, data: bytes, activity_id: int, start_utc: datetime) -> None:
    """BadExport unless `data` is a well-formed `fmt` document of the activity starting at `start_utc`."""
    what = f"the {fmt.upper()} export of activity {activity_id}"
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        declared = REFUSED.get(type(exc).__name__, "something unsafe")
        raise BadExport(f"{what} was refused: it declares {declared} (never expanded)") from None
    except ParseError as exc:
        raise BadExport(f"{what} is not well-formed XML ({exc})") from None
    if _local(root.tag) != ROOTS[fmt]:
        raise BadExport(f"{what} is not a {fmt.upper()} document (its root is <{_local(root.tag)[:40]}>)")
    found = _start_time(root, fmt)
    expected = (start_utc if start_utc.tzinfo else start_utc.replace(tzinfo=UTC)).astimezone(UTC)
    if found is None:
        raise BadExport(f"{what} has no start time to tell which activity it is")
    if found.replace(microsecond=0) != expected.replace(microsecond=0):
        raise BadExport(
            f"{what} is of another activity: it starts {found:%Y-%m-%dT%H:%M:%SZ}, "
            f"the activity {expected:%Y-%m-%dT%H:%M:%SZ}"
        )
