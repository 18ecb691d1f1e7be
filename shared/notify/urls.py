"""Apprise URLs: read, checked, and shown without their secrets.

A notification URL is a credential (a bot token, a webhook path, a password),
so it is shown only as `scheme://host` — and the host only when it is a
host name or address: for `tgram://` or `discord://` the "host" is the token
itself. Apprise is imported only where a URL is actually read or sent.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from urllib.parse import parse_qsl, unquote, urlsplit

from shared.errors import ConfigError

HIDDEN = "…"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")


def quiet_apprise() -> None:
    """Apprise logs the URLs it refuses or fails on: keep its records out of our logs.

    Its own capture (the result's log entries, which we redact) still sees them.
    """
    logger = logging.getLogger("apprise")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def split_urls(text: str | None) -> list[str]:
    """Comma- or space-separated URLs, as Apprise splits them (a `mailto:` may list
    several addresses after `?to=` with commas)."""
    if not text or not text.strip():
        return []
    from apprise.utils.parse import parse_urls

    return [url for url in parse_urls(text) if url]


def check_urls(urls: list[str], name: str) -> tuple[str, ...]:
    """Every URL one Apprise understands; ConfigError naming the first it does not (shown form)."""
    quiet_apprise()
    from apprise import Apprise

    for url in urls:
        if Apprise.instantiate(url) is None:
            raise ConfigError(
                f"{name}: {shown(url)} is not a notification URL Apprise understands "
                "(see https://github.com/caronc/apprise/wiki for the services and their URLs)"
            )
    return tuple(urls)


def shown(url: str) -> str:
    """What may be shown of a URL: its scheme, and its host when that is a name or an address."""
    scheme, sep, _rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or not _SCHEME.match(scheme):
        return HIDDEN
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme}://{HIDDEN}"
    if not _is_host(host):
        return f"{scheme}://{HIDDEN}"
    where = f"[{host}]" if ":" in host else host
    tail = HIDDEN if (parts.path not in ("", "/") or parts.query or parts.username) else ""
    return f"{scheme}://{where}{f':{port}' if port else ''}{'/' + tail if tail else ''}"


def _is_host(host: str) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return len(labels) > 1 and labels[-1].isalpha() and all(labels)


def secrets_of(urls: list[str]) -> set[str]:
    """Every piece of the URLs that may be a secret, to scrub from error lines."""
    found: set[str] = set()
    for url in urls:
        found.add(url)
        try:
            parts = urlsplit(url)
        except ValueError:
            continue
        pieces = [parts.username, parts.password]
        if not _is_host(parts.hostname or ""):  # a token in the host's place (tgram://, discord://)
            pieces += [parts.hostname, parts.netloc]
        elif "@" in parts.netloc:
            pieces.append(parts.netloc.rpartition("@")[0])
        pieces += [unquote(segment) for segment in parts.path.split("/")]
        pieces += [segment for segment in parts.path.split("/")]
        pieces += [value for _key, value in parse_qsl(parts.query)]
        found.update(piece for piece in pieces if piece and len(piece) >= 4)
    return found


def scrub(text: str, secrets: set[str]) -> str:
    """`text` with every secret replaced; the longest first, so a part never uncovers a whole."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text
