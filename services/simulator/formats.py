"""GPX, TCX and ZIP bodies built from the same track as the FIT file."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from xml.sax.saxutils import escape

from .data import DEVICES, Activity
from .fit_encoder import FitActivity

DEVICE_NAMES = dict(DEVICES)


# Characters XML 1.0 cannot carry at all (even escaped): C0 controls but tab, LF and CR;
# lone surrogates; U+FFFE/U+FFFF. Garmin's exports leave them out of names.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    """A name as XML character data: escaped, and without what XML cannot hold."""
    return escape(_NOT_XML.sub("", value))


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def gpx(act: Activity, track: FitActivity) -> bytes:
    """A GPX 1.1 document like Garmin Connect's export (names XML-escaped): the activity's
    start as `metadata/time`, one `trkpt` per sample with a position."""
    points = []
    for r in track.records:
        if r.lat is None or r.lon is None:
            continue
        ele = "" if r.altitude_m is None else f"<ele>{r.altitude_m}</ele>"
        cad = "" if r.cadence is None else f"<ns3:cad>{r.cadence}</ns3:cad>"
        points.append(
            f'<trkpt lat="{r.lat}" lon="{r.lon}">{ele}<time>{_iso(r.timestamp)}</time>'
            "<extensions><ns3:TrackPointExtension>"
            f"<ns3:hr>{r.heart_rate}</ns3:hr>{cad}</ns3:TrackPointExtension></extensions>"
            "</trkpt>"
        )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx creator="Garmin Connect" version="1.1"'
        ' xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/11.xsd"'
        ' xmlns:ns3="http://www.garmin.com/xmlschemas/TrackPointExtension/v1"'
        ' xmlns="http://www.topografix.com/GPX/1/1"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        ' xmlns:ns2="http://www.garmin.com/xmlschemas/GpxExtensions/v3">'
        '<metadata><link href="connect.garmin.com"><text>Garmin Connect</text></link>'
        f"<time>{_iso(act.start_utc)}</time></metadata>"
        f"<trk><name>{_text(act.name)}</name><type>{act.type_key}</type>"
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
        heart = [r.heart_rate for r in recs]
        laps.append(
            f'<Lap StartTime="{_iso(recs[0].timestamp)}">'
            f"<TotalTimeSeconds>{seconds:.1f}</TotalTimeSeconds>"
            f"<DistanceMeters>{dist:.2f}</DistanceMeters>"
            f"<Calories>{round(track.calories / max(1, len(track.laps)))}</Calories>"
            f"<AverageHeartRateBpm><Value>{round(sum(heart) / len(heart))}</Value></AverageHeartRateBpm>"
            f"<MaximumHeartRateBpm><Value>{max(heart)}</Value></MaximumHeartRateBpm>"
            "<Intensity>Active</Intensity>"
            f"<TriggerMethod>Manual</TriggerMethod><Track>{''.join(pts)}</Track></Lap>"
        )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<TrainingCenterDatabase"
        ' xsi:schemaLocation="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2'
        ' http://www.garmin.com/xmlschemas/TrainingCenterDatabasev2.xsd"'
        ' xmlns:ns5="http://www.garmin.com/xmlschemas/ActivityGoals/v1"'
        ' xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2"'
        ' xmlns:ns2="http://www.garmin.com/xmlschemas/UserProfile/v2"'
        ' xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<Activities><Activity Sport="{act.type.tcx_sport}">'
        f"<Id>{_iso(act.start_utc)}</Id>{''.join(laps)}"
        f"<Notes>{_text(act.name)}</Notes>"
        '<Creator xsi:type="Device_t">'
        f"<Name>{DEVICE_NAMES.get(track.product, 'Garmin')}</Name>"
        f"<UnitId>{track.serial_number}</UnitId><ProductID>{track.product}</ProductID>"
        "<Version><VersionMajor>20</VersionMajor><VersionMinor>29</VersionMinor>"
        "<BuildMajor>0</BuildMajor><BuildMinor>0</BuildMinor></Version></Creator>"
        "</Activity></Activities>"
        '<Author xsi:type="Application_t"><Name>Connect Api</Name><Build><Version>'
        "<VersionMajor>26</VersionMajor><VersionMinor>1</VersionMinor>"
        "<BuildMajor>0</BuildMajor><BuildMinor>0</BuildMinor></Version></Build>"
        "<LangID>en</LangID><PartNumber>006-D2449-00</PartNumber></Author>"
        "</TrainingCenterDatabase>\n"
    )
    return doc.encode("utf-8")


# What a broken export looks like, by fault name (``faults.EXPORT_FAULTS``).
_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + "]>\n<gpx>&i;</gpx>\n"
)
_EXTERNAL = (
    '<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
    "<gpx>&secret;</gpx>\n"
)


def damaged_export(body: bytes, fault: str, other: bytes) -> bytes:
    """``broken_xml``: cut mid-element; ``xml_bomb``: a billion-laughs DTD; ``xml_external``:
    an external entity; ``wrong_activity``: another activity's export (``other``)."""
    if fault == "broken_xml":
        return body[: max(20, len(body) // 2)]
    if fault == "xml_bomb":
        return _BOMB.encode()
    if fault == "xml_external":
        return _EXTERNAL.encode()
    return other


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
