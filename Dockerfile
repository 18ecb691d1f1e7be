# One image for every GarminSync process: worker, beat, web, the CLI and the
# one-shot schema upgrade. docker-compose.yml picks the process per service.
# No `# syntax=` line: BuildKit would fetch that frontend from Docker Hub before
# building, which fails offline and behind a registry mirror, and nothing here needs it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# Build-time only (an ARG, not an ENV): no debconf prompts or warnings from apt.
ARG DEBIAN_FRONTEND=noninteractive

# tzdata: zoneinfo needs it for activities' local times (Debian slim no longer ships it).
# `apt-get clean` drops apt's package caches, which otherwise stay in this layer
# (about 90 MB on a base without Docker's docker-clean apt hook).
# uid 10001 is a regular uid (above Debian's system range, so no useradd warning).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 garminsync \
    && useradd --uid 10001 --gid garminsync --home-dir /home/garminsync \
       --create-home --shell /usr/sbin/nologin garminsync

WORKDIR /app

# Dependencies first, from pyproject.toml alone: a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code, installed in place (editable): shared/db.py finds its migrations in
# /app/alembic next to the `shared` package, which a site-packages install would
# not have (and there `alembic/` is the Alembic library itself).
# Byte-compiled here because the code is read-only at run time: without .pyc
# files every process start would compile it again.
# /data is private (0700): a new named volume takes its owner and mode from it.
COPY . .
RUN pip install --no-deps -e . \
    && python -c "from shared.db import ALEMBIC_DIR; assert (ALEMBIC_DIR / 'env.py').is_file(), ALEMBIC_DIR" \
    && python -m compileall -q shared services alembic \
    && install -d -m 0700 -o garminsync -g garminsync /data

# Code stays root-owned (read-only to the app); only /data is writable.
ENV GARMINSYNC_DATA_DIR=/data
USER garminsync
EXPOSE 8080

# For the web process; docker-compose.yml gives worker and beat their own checks.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.cli.processes", "health", "web"]

ENTRYPOINT ["garminsync"]
CMD ["--help"]
