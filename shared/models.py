"""SQLAlchemy 2.0 models: the store that CLI, workers, beat and web share.

Alembic owns the schema; `alembic/env.py` reads `Base.metadata`. The naming
convention gives every constraint a stable name so batch migrations on SQLite
can find them.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DownloadState(enum.StrEnum):
    """Where an activity's original stands. `no_file`: Garmin has none (manual entry)."""

    MISSING = "missing"
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    FAILED = "failed"
    NO_FILE = "no_file"


class TokenState(enum.StrEnum):
    NONE = "none"
    VALID = "valid"
    NEEDS_LOGIN = "needs_login"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255))
    # Fernet-encrypted garminconnect token JSON; never stored in clear.
    token_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_state: Mapped[str] = mapped_column(String(16), default=TokenState.NONE)
    token_error: Mapped[str | None] = mapped_column(Text)
    token_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    login_blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # True once a listing reached the oldest activity: incremental syncs may stop early.
    history_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sync_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    activities: Mapped[list[Activity]] = relationship(back_populates="account")


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_account_state", "account_id", "state"),
        Index("ix_activities_account_start", "account_id", "start_time"),
        Index("ix_activities_type", "activity_type"),
        Index("ix_activities_state_dispatched", "state", "dispatched_at"),
    )

    # Garmin's id: real ids exceed 2**31.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(255))
    activity_type: Mapped[str | None] = mapped_column(String(64))
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC
    start_time_local: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    duration_s: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_upstream: Mapped[bool] = mapped_column(Boolean, default=False)
    summary_json: Mapped[str | None] = mapped_column(Text)

    state: Mapped[str] = mapped_column(String(16), default=DownloadState.MISSING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    file_format: Mapped[str | None] = mapped_column(String(8))  # fit, gpx, tcx
    file_path: Mapped[str | None] = mapped_column(String(1024))  # relative to data dir
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The pacing backlog (docs/DECISIONS.md): a `queued` activity waits in the
    # database until the dispatcher publishes its task (`dispatched_at`), not
    # before `not_before` (a transient error's back-off); `run_id` is the sync
    # run whose outcome it counts towards.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(back_populates="activities")
    files: Mapped[list[ActivityFile]] = relationship(
        back_populates="activity", cascade="all, delete-orphan", passive_deletes=True
    )


class ActivityFile(Base):
    """A file kept beside an activity's original: a GPX/TCX export or the `.json` sidecar.

    The original stays on `activities` (file_path, sha256: the DESIGN's contract); these
    rows are what the archive holds besides it, one per format. A row without a path is an
    export that failed (`attempts`, `last_error`); for the sidecar (`json`), `details` says
    whether Garmin's details are in it and `attempts` counts failed details requests.
    """

    __tablename__ = "activity_files"

    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    format: Mapped[str] = mapped_column(String(8), primary_key=True)  # gpx, tcx, json
    path: Mapped[str | None] = mapped_column(String(1024))  # relative to the data dir
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    activity: Mapped[Activity] = relationship(back_populates="files")


class SyncRun(Base):
    """One sync: what it found, queued, downloaded and failed (the seed's SyncLog)."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_started", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(16))  # cli, schedule, web
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    list_requests: Mapped[int] = mapped_column(Integer, default=0)
    found: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    downloaded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    no_file: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(64))
    error_kind: Mapped[str | None] = mapped_column(String(16))  # shared.outcomes.Kind of an error


class TaskRun(Base):
    """A task's lifecycle from Celery signals; durable, unlike Flower's memory."""

    __tablename__ = "task_runs"
    __table_args__ = (
        Index("ix_task_runs_state", "state"),
        Index("ix_task_runs_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))  # queued started retried succeeded failed
    args: Mapped[str | None] = mapped_column(Text)  # ids only: tasks never carry secrets
    account_id: Mapped[int | None] = mapped_column(Integer)
    activity_id: Mapped[int | None] = mapped_column(BigInteger)
    worker: Mapped[str | None] = mapped_column(String(255))
    queue: Mapped[str | None] = mapped_column(String(64))
    retries: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    runtime_s: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Schedule(Base):
    """A cron per account; the source of truth that RedBeat mirrors."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), unique=True)
    cron: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
