"""Kept as an alias: `python -m services.cli.processes health|migrate` (docker-compose.yml and the
Dockerfile of earlier releases) runs `services.launcher.container`, where the launcher now lives."""

from __future__ import annotations

import sys

from services.launcher.container import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m services.cli.processes"))
