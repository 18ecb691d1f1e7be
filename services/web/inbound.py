"""Request shapes refused before CSRF and any view runs, so a bad one changes nothing.

JSON nested deeper than Python's parser recurses raised RecursionError (a 500
before any login); a `next` holding CR or LF broke the redirect header after
the action had already run. Both are a 400 here, first.
"""

from __future__ import annotations

from flask import Response, jsonify, request


def check() -> Response | None:
    """`before_request`, right after the host check."""
    target = request.values.get("next")
    if target is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return _bad("next must be a path on this site (no control characters)")
    if request.is_json and request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            request.get_json(silent=True)  # parsed once here; views read the cached result
        except RecursionError:
            return _bad("the JSON body is nested too deeply")
    return None


def _bad(message: str) -> Response:
    """Plain JSON or text: no page layout, no store, nothing else run for this request."""
    if request.path.startswith("/api/"):
        response = jsonify({"error": message, "status": 400})
    else:
        response = Response(f"400: {message}\n", mimetype="text/plain")
    response.status_code = 400
    return response
