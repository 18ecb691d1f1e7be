"""URLs as they may be shown: passwords masked wherever a URL can carry one.

A database or Redis URL can hold its password in the user:password part or
in the query (`?password=…`, which libpq, psycopg and redis-py all accept);
status, the dashboard's System page and error messages show URLs only
through `mask_url`.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit

MASK = "***"
_SECRET_WORDS = ("password", "passwd", "secret", "token")
_SECRET_NAMES = frozenset({"pwd", "pass", "pw"})


def secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)


def mask_url(url: str) -> str:
    """The URL with the password of user:password and every secret query value masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return MASK  # not a URL we can take apart: show nothing of it
    shown = url  # replaced in place: urlunsplit would turn sqlite://// into sqlite://
    if password is not None:
        credentials, _, host = parts.netloc.rpartition("@")
        shown = shown.replace(f"//{parts.netloc}", f"//{credentials.split(':', 1)[0]}:{MASK}@{host}", 1)
    if parts.query:
        query = "&".join(_mask_pair(pair) for pair in parts.query.split("&"))
        shown = shown.replace(f"?{parts.query}", f"?{query}", 1)
    return shown


def _mask_pair(pair: str) -> str:
    key, sep, _ = pair.partition("=")
    return f"{key}={MASK}" if sep and secret_name(unquote_plus(key)) else pair
