"""Where the dashboard may listen, and whether it can: checked by the dashboard itself and by
the launcher before it starts anything (`garminsync daemon`).

Without GARMINSYNC_WEB_PASSWORD the dashboard stays on loopback, since it
trusts whoever reaches it (docs/SECURITY.md).
"""

from __future__ import annotations

import ipaddress
import socket

from shared.config import Settings
from shared.errors import AddressInUse, UsageError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """`localhost`, `*.localhost` (browsers never ask DNS for them), or a loopback address."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """UsageError when the dashboard would be reachable from the network without a password."""
    if settings.web_password or is_loopback_host(host):
        return
    raise UsageError(
        f"refusing to listen on {host} without a dashboard password: set GARMINSYNC_WEB_PASSWORD, "
        "or use --host 127.0.0.1 to keep the dashboard on this machine"
    )


def check_port_free(host: str, port: int) -> None:
    """One clear line now, instead of gunicorn retrying (and logging) a taken port for seconds."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise AddressInUse(f"cannot listen on {host}:{port}: {reason}") from None
