"""Imports point one way (docs/ARCHITECTURE.md): services → shared, never back; the CLI and
the dashboard never import each other; the simulator and the product share nothing."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

FRAMEWORKS = (
    "celery",
    "kombu",
    "redbeat",
    "flask",
    "flask_sqlalchemy",
    "flask_wtf",
    "gunicorn",
    "typer",
    "rich",
)


def imports_of(folder: str) -> dict[str, set[str]]:
    """Every absolute module a package's files import (relative imports stay inside it)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = names
    return found


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {name}"
        for path, names in imports_of(folder).items()
        for name in sorted(names)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("shared", ("services", *FRAMEWORKS)),
        ("services/cli", ("services.web", "services.simulator", "flask")),
        ("services/web", ("services.cli", "services.launcher", "services.simulator", "typer")),
        ("services/worker", ("services.cli", "services.web", "services.launcher", "services.simulator")),
        ("services/launcher", ("services.cli", "services.web", "services.simulator")),
        (
            "services/simulator",
            ("shared", "services.cli", "services.web", "services.worker", "services.launcher"),
        ),
    ],
)
def test_imports_point_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(folder, forbidden) == []


def test_no_module_over_300_lines_in_the_faces_and_the_use_cases() -> None:
    long = [
        f"{path.relative_to(REPO)}: {lines}"
        for folder in ("services/cli", "services/web", "services/launcher", "shared/usecases")
        for path in (REPO / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > 300
    ]
    assert long == []
