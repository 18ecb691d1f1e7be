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
    UniqueConstraint,
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
    # When the refresh token runs out and only an interactive login helps (Garmin's
    # `refresh_token_expires_in`, or the token's own `exp`); None when unknown.
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Fernet-encrypted Apprise URLs of this account's notifications (they carry secrets).
    notify_urls_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
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
        Index("ix_activities_run", "run_id"),
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
    moving_s: Mapped[float | None] = mapped_column(Float)  # Garmin's movingDuration
    elapsed_s: Mapped[float | None] = mapped_column(Float)  # Garmin's elapsedDuration
    manual: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_upstream: Mapped[bool] = mapped_column(Boolean, default=False)
    # When a complete walk of Garmin's list first missed it (kept, never deleted unless asked).
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The recorded file is intact but not this activity's any more: fetch the original again.
    refetch_original: Mapped[bool] = mapped_column(Boolean, default=False)
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
    updated: Mapped[int] = mapped_column(Integer, default=0)  # renamed or retyped on Garmin
    changed: Mapped[int] = mapped_column(Integer, default=0)  # Garmin's file changed: downloaded again
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


class ScheduleKind(enum.StrEnum):
    """An incremental sync, or the reconcile: a full walk that notices upstream changes."""

    SYNC = "sync"
    RECONCILE = "reconcile"


class Schedule(Base):
    """A cron per account and kind; the source of truth that RedBeat mirrors."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("account_id", "kind", name="uq_schedules_account_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default=ScheduleKind.SYNC)
    cron: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Notification(Base):
    """One notification: recorded when its event happens, then delivered (docs/DECISIONS.md).

    `pending` until a worker's dispatcher queues it (`queued`) or the embedded
    mode sends it inline; `sent` or `failed` after. Never the URL in clear:
    `targets` holds what may be shown of them (scheme and host).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status", "status"),
        Index("ix_notifications_account_event", "account_id", "event", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))  # shared.notify.events.Event
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"))
    detail: Mapped[str | None] = mapped_column(Text)  # JSON: the facts the message is made of
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(String(255))  # as sent
    targets: Mapped[str | None] = mapped_column(String(1024))  # shown form: scheme://host, never secrets
    error: Mapped[str | None] = mapped_column(Text)  # one line, secrets removed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
