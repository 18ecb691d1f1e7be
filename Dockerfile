# syntax=docker/dockerfile:1
# One image for every GarminSync process: worker, beat, web, the CLI and the
# one-shot schema upgrade. docker-compose.yml picks the process per service.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# tzdata: zoneinfo needs it for activities' local times (Debian slim no longer ships it).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 garminsync \
    && useradd --system --uid 10001 --gid garminsync --home-dir /home/garminsync \
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
COPY . .
RUN pip install --no-deps -e . \
    && python -c "from shared.db import ALEMBIC_DIR; assert (ALEMBIC_DIR / 'env.py').is_file(), ALEMBIC_DIR" \
    && mkdir -p /data \
    && chown garminsync:garminsync /data

# Code stays root-owned (read-only to the app); only /data is writable.
ENV GARMINSYNC_DATA_DIR=/data
USER garminsync
EXPOSE 8080

# For the web process; docker-compose.yml gives worker and beat their own checks.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "services.cli.processes", "health", "web"]

ENTRYPOINT ["garminsync"]
CMD ["--help"]
