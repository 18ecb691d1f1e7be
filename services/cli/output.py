"""What the CLI prints: the two consoles, and stored text made inert for a terminal.

Names, messages and paths come from Garmin, the store or the user. Printed
through Rich they would be read as markup (`[/tempo]` is an error, `[link=…]`
a hidden hyperlink), and escape sequences or right-to-left overrides in them
would reach the terminal. Every such value goes through `safe()`; JSON output
is cleaned the same way (`shared.garmin_values`).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from shared.garmin_values import clean_json, strip_controls

# Pipes and files get whole lines; a terminal gets its own width.
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def safe(value: object) -> str:
    """Any value as literal text: no Rich markup, no control or bidi-override characters."""
    return escape(strip_controls(str(value)))


def print_json(data: Any) -> None:
    """JSON on stdout, its strings without control characters, non-finite numbers null."""
    out.print_json(data=clean_json(data))
