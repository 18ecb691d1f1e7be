"""Error answers shaped like Garmin's and Cloudflare's, shared by every route module.

A client's error handling is only tested if the errors look like the real
ones: Garmin's JSON, Cloudflare's HTML "Error 1015" page, or an empty body.
"""

from __future__ import annotations

import html
from http import HTTPStatus
from typing import Any

from flask import Response, jsonify

CLOUDFLARE_429 = """<!DOCTYPE html>
<html lang="en-US"><head><title>Access denied | connectapi.garmin.com used Cloudflare to \
restrict access</title></head>
<body><div id="cf-wrapper"><h1><span>Error</span> <span>1015</span></h1>
<h2>You are being rate limited</h2>
<p>The owner of this website (connectapi.garmin.com) has banned you temporarily from \
accessing this website.</p></div></body></html>
"""


def reason(status: int) -> str:
    """The standard phrase for a status ("Too Many Requests"), or "Error"."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error(status: int, message: str, **extra: Any) -> Response:
    """A JSON error the way Garmin's API services answer one."""
    resp = jsonify({"message": message, "error": reason(status), **extra})
    resp.status_code = status
    return resp


def fault_response(status: int, body: str, retry_after: float | None) -> Response:
    """A Garmin/Cloudflare-looking error: JSON, an HTML page, or nothing."""
    phrase = reason(status)
    if body == "html":
        if status == 429:
            page = CLOUDFLARE_429
        else:
            page = (
                f"<html><head><title>{status} {html.escape(phrase)}</title></head>"
                f"<body><center><h1>{status} {html.escape(phrase)}</h1></center>"
                "<hr><center>cloudflare</center></body></html>\n"
            )
        resp = Response(page, status=status, mimetype="text/html")
    elif body == "empty":
        resp = Response(b"", status=status)
    else:
        resp = jsonify({"message": phrase, "error": {"status-code": str(status), "message": phrase}})
        resp.status_code = status
    if retry_after is not None:
        seconds = retry_after
        resp.headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return resp
