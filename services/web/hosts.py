"""Which host names the dashboard answers to: the defence against DNS rebinding.

A page on `attacker.example` can make its own name resolve to 127.0.0.1; the
browser then sends its requests, with `Host: attacker.example`, to a dashboard
that only checks the client address, and reads the answers as same-origin.
So without a password the dashboard answers only loopback names (`localhost`,
`127.0.0.1`, `[::1]`), and a state change must not come from another origin.
With a password, GARMINSYNC_WEB_ALLOWED_HOSTS names the hosts it is served as
(loopback names always work).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from shared.listen import is_loopback_host

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP")


def host_name(netloc: str) -> str | None:
    """The name in a Host header or an origin's netloc, without port or brackets."""
    try:
        name = urlsplit(f"//{netloc}").hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


def name_allowed(name: str | None, allowed: Sequence[str], password_set: bool) -> bool:
    """Loopback always; other names only with a password and, when a list is set, on it.

    A list entry `.example.org` also matches its subdomains; `*` matches any name.
    """
    if not name:
        return False
    if is_loopback_host(name):
        return True
    if not password_set:
        return False
    if not allowed:
        return True
    return any(
        pattern == "*" or name == pattern or (pattern.startswith(".") and f".{name}".endswith(pattern))
        for pattern in allowed
    )


def refusal(
    method: str,
    host: str,
    origin: str | None,
    allowed: Sequence[str],
    password_set: bool,
    forwarded: bool = False,
) -> str | None:
    """Why this request must not be answered, or None.

    `forwarded`: the request carries a proxy's forwarding headers. A reverse proxy on
    this machine makes every client look local, so without a password that is refused.
    """
    if forwarded and not password_set:
        return (
            "This request came through a reverse proxy, and no GARMINSYNC_WEB_PASSWORD is set: "
            "a dashboard behind a proxy needs a password."
        )
    if not name_allowed(host_name(host), allowed, password_set):
        if password_set:
            return "This dashboard is not served under this host name (see GARMINSYNC_WEB_ALLOWED_HOSTS)."
        return (
            "No GARMINSYNC_WEB_PASSWORD is set, so this dashboard only answers as localhost or "
            "127.0.0.1 on the machine it runs on."
        )
    if method not in SAFE_METHODS and origin is not None:
        origin_name = host_name(origin.split("://", 1)[1]) if "://" in origin else None
        if not name_allowed(origin_name, allowed, password_set):
            return "The request came from a page of another site."
    return None
