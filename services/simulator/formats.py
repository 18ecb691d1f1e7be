"""GPX, TCX and ZIP bodies built from the same track as the FIT file."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from xml.sax.saxutils import escape

from .data import Activity
from .fit_encoder import FitActivity


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def gpx(act: Activity, track: FitActivity) -> bytes:
    """A GPX 1.1 document like Garmin Connect's export (names XML-escaped)."""
    points = []
    for r in track.records:
        if r.lat is None or r.lon is None:
            continue
        ele = "" if r.altitude_m is None else f"<ele>{r.altitude_m}</ele>"
        points.append(
            f'<trkpt lat="{r.lat}" lon="{r.lon}">{ele}<time>{_iso(r.timestamp)}</time>'
            "<extensions><ns3:TrackPointExtension>"
            f"<ns3:hr>{r.heart_rate}</ns3:hr></ns3:TrackPointExtension></extensions>"
            "</trkpt>"
        )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx creator="Garmin Connect" version="1.1"'
        ' xmlns="http://www.topografix.com/GPX/1/1"'
        ' xmlns:ns3="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
        f"<metadata><time>{_iso(act.start_utc)}</time></metadata>"
        f"<trk><name>{escape(act.name)}</name><type>{act.type_key}</type>"
        f"<trkseg>{''.join(points)}</trkseg></trk></gpx>\n"
    )
    return doc.encode("utf-8")


def tcx(act: Activity, track: FitActivity) -> bytes:
    """A TrainingCenterDatabase v2 document with one lap per FIT lap."""
    laps = []
    for lap in track.laps:
        recs = track.records[lap.first : lap.last + 1]
        seconds = (recs[-1].timestamp - recs[0].timestamp).total_seconds()
        dist = 0.0
        if recs[-1].distance_m is not None and recs[0].distance_m is not None:
            dist = recs[-1].distance_m - recs[0].distance_m
        pts = []
        for r in recs:
            pos = ""
            if r.lat is not None and r.lon is not None:
                pos = (
                    f"<Position><LatitudeDegrees>{r.lat}</LatitudeDegrees>"
                    f"<LongitudeDegrees>{r.lon}</LongitudeDegrees></Position>"
                )
            alt = "" if r.altitude_m is None else f"<AltitudeMeters>{r.altitude_m}</AltitudeMeters>"
            d = "" if r.distance_m is None else f"<DistanceMeters>{r.distance_m}</DistanceMeters>"
            pts.append(
                f"<Trackpoint><Time>{_iso(r.timestamp)}</Time>{pos}{alt}{d}"
                f"<HeartRateBpm><Value>{r.heart_rate}</Value></HeartRateBpm></Trackpoint>"
            )
        laps.append(
            f'<Lap StartTime="{_iso(recs[0].timestamp)}">'
            f"<TotalTimeSeconds>{seconds:.1f}</TotalTimeSeconds>"
            f"<DistanceMeters>{dist:.2f}</DistanceMeters>"
            "<Calories>0</Calories><Intensity>Active</Intensity>"
            f"<TriggerMethod>Manual</TriggerMethod><Track>{''.join(pts)}</Track></Lap>"
        )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<TrainingCenterDatabase"
        ' xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">'
        f'<Activities><Activity Sport="{act.type.tcx_sport}">'
        f"<Id>{_iso(act.start_utc)}</Id>{''.join(laps)}"
        f"<Notes>{escape(act.name)}</Notes>"
        "</Activity></Activities></TrainingCenterDatabase>\n"
    )
    return doc.encode("utf-8")


def zip_single(name: str, content: bytes, when: datetime) -> bytes:
    """A ZIP with one deflated entry, byte-for-byte deterministic."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, content)
    return buf.getvalue()


def truncate_zip(body: bytes) -> bytes:
    """A ZIP cut off mid-stream (what a dropped connection leaves behind)."""
    return body[: max(10, len(body) // 2)]
