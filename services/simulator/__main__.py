"""``python -m services.simulator``: serve a simulated Garmin Connect until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from .ratelimit import parse_window
from .server import SimulatorServer
from .state import DEFAULT_EMAIL, DEFAULT_PASSWORD


def _window(text: str) -> list[int | float]:
    try:
        return parse_window(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def account_emails(first: str, count: int) -> list[str]:
    """``first``, then athlete2@example.com ... athlete<count>@example.com."""
    return [first] + [f"athlete{k}@example.com" for k in range(2, count + 1)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.simulator",
        description="A Garmin Connect simulator (SSO, DI tokens, activities, FIT downloads).",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--port-file", type=Path, help="write the bound port number here")
    p.add_argument("--activities", type=int, default=300, help="activities per account")
    p.add_argument(
        "--accounts",
        type=_positive,
        default=1,
        help="serve N accounts: --email, then athlete2@example.com ... athleteN@example.com",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime (s)")
    p.add_argument(
        "--refresh-ttl", type=int, default=90 * 86400, help="refresh token lifetime from a login (s)"
    )
    p.add_argument("--mfa", action="store_true", help="every account requires the MFA code 123456")
    p.add_argument("--email", default=DEFAULT_EMAIL, help="the first (default) account")
    p.add_argument("--password", default=DEFAULT_PASSWORD, help="every account's password")
    p.add_argument("--gpx-ratio", type=float, default=0.02)
    p.add_argument("--tcx-ratio", type=float, default=0.02)
    p.add_argument("--manual-ratio", type=float, default=0.02)
    p.add_argument("--manual-status", type=int, default=404, choices=(404, 500))
    p.add_argument("--fit-records", type=int, default=100, help="samples per FIT file")
    p.add_argument("--rate-limit-per-second", type=int, help="IP-wide: answer 429 beyond this")
    p.add_argument(
        "--rate-limit",
        type=_window,
        action="append",
        default=[],
        metavar="N/SECONDS",
        help="IP-wide: at most N requests in any window of SECONDS (repeatable)",
    )
    p.add_argument(
        "--account-rate-limit",
        type=_window,
        action="append",
        default=[],
        metavar="N/SECONDS",
        help="each account: at most N requests in any window of SECONDS (repeatable)",
    )
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rate_limit: dict[str, Any] = {
        "per_second": args.rate_limit_per_second or None,
        "windows": args.rate_limit,
    }
    sim = SimulatorServer(
        activities=args.activities,
        seed=args.seed,
        latency_ms=args.latency_ms,
        host=args.host,
        port=args.port,
        log_requests=args.verbose,
        token_ttl=args.token_ttl,
        refresh_ttl=args.refresh_ttl,
        mfa=args.mfa,
        email=args.email,
        password=args.password,
        gpx_ratio=args.gpx_ratio,
        tcx_ratio=args.tcx_ratio,
        manual_ratio=args.manual_ratio,
        manual_status=args.manual_status,
        fit_records=args.fit_records,
        rate_limit=rate_limit,
    )
    emails = account_emails(sim.state.account.email, args.accounts)
    for email in emails[1:]:
        sim.state.add_account(email, args.password, activities=args.activities, mfa=args.mfa)
    if args.account_rate_limit:
        for email in emails:
            sim.state.configure(rate_limit={"windows": args.account_rate_limit}, account=email)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim.start()
    try:
        if args.port_file:
            tmp = args.port_file.with_name(args.port_file.name + ".tmp")
            tmp.write_text(f"{sim.port}\n")
            tmp.replace(args.port_file)
        print(sim.url, flush=True)
        if len(emails) > 1:
            for email in emails:
                count = len(sim.state.activity_ids(account=email))
                print(f"account {email} password={args.password} activities={count}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
