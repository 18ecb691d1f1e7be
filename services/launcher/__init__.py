"""Starting the long-running processes: worker, beat, the dashboard, and all three as one daemon.

The options live here, not in each deployment file, so `garminsync worker`,
`garminsync daemon`, `make up` (scripts/up.py) and the Docker image all run
the processes the same way:

- `preflight`: settings, Redis, the data dir and the schema, checked before any process starts;
- `argv`: the command lines (Celery worker and beat, the dashboard);
- `commands`: `worker`, `beat`, `web` and `daemon` — refuse with one line and an exit code, or
  become the process (exec) / supervise the three;
- `supervisor`: children in their own process groups, stopped in stages;
- `health` and `container`: the container healthchecks and the one-shot schema upgrade
  (`python -m services.launcher health web|worker|beat`, `... migrate`).

The launcher starts the dashboard as a process (`python -m services.web`), so
neither it nor the CLI imports the web package.
"""
