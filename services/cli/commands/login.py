"""`garminsync login`: password (and MFA code) or imported tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shared.errors import AuthRequired
from shared.usecases import login as logins

from ..bootstrap import start
from ..exit_codes import handled
from ..output import err, out, safe


@handled
def login(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="Garmin email (default: GARMIN_EMAIL).")] = None,
    tokens: Annotated[
        str | None,
        typer.Option(help="Import garminconnect token JSON (inline or a path) instead of logging in."),
    ] = None,
) -> None:
    """Log in to Garmin (asks for an MFA code when Garmin wants one) and store the tokens."""
    ws = start(ctx, create=True)
    if tokens is not None:
        logins.import_tokens(ws.runtime, ws.account_id, tokens)
        out.print("Tokens imported and stored, encrypted, in the database.")
        return
    email = email or ws.settings.garmin_email
    password = ws.settings.garmin_password
    if not email or not password:
        if not sys.stdin.isatty():
            raise AuthRequired(
                "missing credentials: set GARMIN_EMAIL and GARMIN_PASSWORD in .env "
                "or run `garminsync login` in a terminal"
            )
        email = email or typer.prompt("Garmin email")
        password = password or typer.prompt("Garmin password", hide_input=True)
    result = logins.begin(ws.runtime, ws.account_id, email, password)
    while isinstance(result, logins.PendingLogin):
        pending = result
        try:
            result = logins.submit_code(ws.runtime, pending, typer.prompt("MFA code"))
        except AuthRequired as exc:
            if pending.exhausted:
                raise
            err.print(f"{safe(exc)}; try again.")
    where = f" and in {result.token_file} (0600)" if result.token_file else ""
    out.print(f"Logged in as {safe(result.who)}. Tokens stored, encrypted, in the database{safe(where)}.")
    if result.warning:
        err.print(f"[yellow]{safe(result.warning)}[/yellow]")
