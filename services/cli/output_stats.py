"""Rendering `garminsync stats`: one table, a total line."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from .output import out, safe


def hours(seconds: float) -> str:
    """`123:45` (hours and minutes): totals run into thousands of hours."""
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def table(result: dict[str, Any]) -> None:
    if not result["rows"]:
        out.print("No activities yet: run `garminsync sync` first.")
        return
    grid = Table(show_edge=False, header_style="bold")
    grid.add_column(result["by"].capitalize())
    for name in ("Activities", "Distance (km)", "Moving (h:mm)", "Elapsed (h:mm)"):
        grid.add_column(name, justify="right")
    for row in [*result["rows"], result["total"]]:
        grid.add_row(
            safe(row["key"]),
            str(row["count"]),
            f"{row['distance_km']:,.1f}",
            hours(row["moving_s"]),
            hours(row["elapsed_s"]),
            end_section=row is result["rows"][-1],
        )
    out.print(grid)
