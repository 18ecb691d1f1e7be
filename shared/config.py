"""Settings from the environment and a `.env` file, validated once.

Every setting a user can give is read here and nowhere else, so a bad value is
reported with its name before any work starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from shared.errors import ConfigError, UsageError
from shared.notify.kinds import ALL_EVENTS, CHOOSABLE
from shared.notify.urls import check_urls, split_urls
from shared.ratelimit_spec import RateSpec, parse_rate
from shared.redact import mask_url
from shared.schedules import validate_cron

_DEFAULT_RATE = parse_rate("30/minute")  # frozen: one instance serves every Settings
MAX_PAGE_SIZE = 1000  # Garmin answers 400 above this


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Secrets are kept out of `repr`.

    The field defaults are the settings' defaults (README, Settings), stated
    here only: `load_settings` falls back to them, and so does anything that
    needs a default without settings (`default()`).
    """

    data_dir: Path
    database_url: str
    redis_url: str | None = None
    garmin_api_url: str | None = None
    rate: RateSpec = _DEFAULT_RATE
    page_size: int = 100
    layout: str = "fit/activity_{id}_{timestamp}.{ext}"
    max_attempts: int = 5
    garmin_email: str | None = field(default=None, repr=False)
    garmin_password: str | None = field(default=None, repr=False)
    garmintokens: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    web_password: str | None = field(default=None, repr=False)
    metrics_token: str | None = field(default=None, repr=False)
    task_history_days: int = 30
    cooldown_base_s: int = 60
    login_backoff_s: int = 300
    requeue_after_s: int = 12 * 3600
    max_wait_s: int = 5
    retry_base_s: float = 10.0
    visibility_timeout_s: int = 7200
    flower_url: str | None = None
    rate_margin_ms: int = 100
    global_rate: RateSpec | None = None
    web_allowed_hosts: tuple[str, ...] = ()
    umask: int = 0o077
    web_secure_cookie: bool = False
    # Apprise URLs carry secrets (tokens, passwords): never in a repr, a log or a page.
    notify_urls: tuple[str, ...] = field(default=(), repr=False)
    notify_events: frozenset[str] = ALL_EVENTS
    notify_cooldown_minutes: int = 10
    token_warn_days: int = 7
    # The reconcile (a full walk of Garmin's list) of every account with an enabled sync
    # schedule, unless that account set its own; None ("off"): only where one was set.
    reconcile_cron: str | None = "0 4 * * 0"
    # What the archive keeps per activity: the original always, extra formats through
    # Garmin's export endpoints, and Garmin's details in the sidecar (docs/DECISIONS.md, 31).
    formats: tuple[str, ...] = ("fit",)
    save_details: bool = False

    @property
    def embedded(self) -> bool:
        """No Redis: tasks run in-process."""
        return not self.redis_url

    @property
    def tokens_location(self) -> str:
        """GARMINTOKENS, or the default token directory under the data dir."""
        return self.garmintokens or str(self.data_dir / "tokens")


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}


def default(name: str) -> Any:
    """A setting's default, for code that runs without settings (the limiter's own defaults)."""
    return _DEFAULTS[name]


# Numeric settings: environment name, Settings field, lowest and highest value allowed.
_NUMBERS: tuple[tuple[str, str, float, float], ...] = (
    ("GARMINSYNC_PAGE_SIZE", "page_size", 1, MAX_PAGE_SIZE),
    ("GARMINSYNC_MAX_ATTEMPTS", "max_attempts", 1, 100),
    ("GARMINSYNC_TASK_HISTORY_DAYS", "task_history_days", 1, 3650),
    ("GARMINSYNC_COOLDOWN", "cooldown_base_s", 1, 86400),
    ("GARMINSYNC_LOGIN_BACKOFF", "login_backoff_s", 0, 86400),
    ("GARMINSYNC_REQUEUE_AFTER", "requeue_after_s", 10, 86400 * 7),
    ("GARMINSYNC_MAX_WAIT", "max_wait_s", 0, 3600),
    ("GARMINSYNC_RETRY_BASE", "retry_base_s", 0.01, 3600.0),
    ("GARMINSYNC_VISIBILITY_TIMEOUT", "visibility_timeout_s", 5, 86400 * 7),
    ("GARMINSYNC_RATE_MARGIN_MS", "rate_margin_ms", 0, 60_000),
    # A cool-down lasts at most 15 minutes (shared.ratelimit): a longer threshold would never fire.
    ("GARMINSYNC_NOTIFY_COOLDOWN_MINUTES", "notify_cooldown_minutes", 1, 15),
    ("GARMINSYNC_TOKEN_WARN_DAYS", "token_warn_days", 0, 365),
)


def _number(raw: Mapping[str, str | None], name: str, field_name: str, lo: float, hi: float) -> float:
    """The setting as its field's type (whole numbers for int fields), or the field's default."""
    fallback = _DEFAULTS[field_name]
    value = raw.get(name)
    if value is None or value == "":
        return fallback
    whole = isinstance(fallback, int)
    try:
        number = int(value) if whole else float(value)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{name} must be {kind}, got {value!r}") from None
    if not lo <= number <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {number}")
    return number


def _bool(raw: Mapping[str, str | None], name: str, field_name: str) -> bool:
    value = (raw.get(name) or "").strip().lower()
    if not value:
        return bool(_DEFAULTS[field_name])
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def normalize_database_url(url: str) -> str:
    """Map plain `postgresql://` (and `postgres://`) URLs to the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _check_layout(layout: str) -> str:
    if layout.startswith("/") or ".." in Path(layout).parts:
        raise ConfigError("GARMINSYNC_FILE_LAYOUT must be a relative path inside the data dir")
    if "{id}" not in layout:
        raise ConfigError("GARMINSYNC_FILE_LAYOUT must contain {id} so names stay unique")
    try:
        layout.format(id=1, timestamp="t", type="run", year="2026", month="01", name="n", ext="fit")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"GARMINSYNC_FILE_LAYOUT has an unknown placeholder: {exc}") from None
    return layout


_HOST_PATTERN = re.compile(r"\*|\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|[0-9a-f:.]+")


def _allowed_hosts(value: str | None) -> tuple[str, ...]:
    """GARMINSYNC_WEB_ALLOWED_HOSTS: host names (no scheme, no port), comma-separated."""
    names = [name.strip().lower().strip("[]") for name in (value or "").split(",") if name.strip()]
    for name in names:
        if not _HOST_PATTERN.fullmatch(name):
            raise ConfigError(
                f"GARMINSYNC_WEB_ALLOWED_HOSTS takes host names such as garmin.example.org or "
                f".example.org (no scheme, port or path), got {name!r}"
            )
    return tuple(name.rstrip(".") for name in names)


def _check_port(name: str, url: str) -> None:
    """A port the URL's library would only refuse at the first connection."""
    try:
        port = urlsplit(url).port
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigError(f"{name} has no valid port (1-65535): {mask_url(url)!r}")


def _umask(value: str | None) -> int:
    """GARMINSYNC_UMASK: octal bits taken from every file and directory we create (077:
    private to the owner; 027: the group may read)."""
    if value is None:
        return int(_DEFAULTS["umask"])
    try:
        mask = int(value, 8)
    except ValueError:
        raise ConfigError(f"GARMINSYNC_UMASK must be octal, like 077 or 027, got {value!r}") from None
    if not 0 <= mask <= 0o777 or mask & 0o700:
        raise ConfigError(f"GARMINSYNC_UMASK must leave the owner's bits alone (000-077), got {value!r}")
    return mask


KNOWN_FORMATS = ("fit", "gpx", "tcx")


def _formats(value: str | None) -> tuple[str, ...]:
    """GARMINSYNC_FORMATS: `fit` (the original, always kept) plus any of `gpx`, `tcx`."""
    if value is None:
        return tuple(_DEFAULTS["formats"])
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in KNOWN_FORMATS]
    if unknown:
        raise ConfigError(
            f"GARMINSYNC_FORMATS takes {', '.join(KNOWN_FORMATS)} (comma-separated), got {unknown[0]!r}"
        )
    if "fit" not in names:
        raise ConfigError("GARMINSYNC_FORMATS must include fit: the original file is always archived")
    return tuple(dict.fromkeys(names))


def _metrics_token(value: str | None) -> str | None:
    """GARMINSYNC_METRICS_TOKEN: a bearer token for Prometheus; long, so it cannot be guessed."""
    if value is not None and (len(value) < 16 or any(ch.isspace() or ord(ch) < 32 for ch in value)):
        raise ConfigError("GARMINSYNC_METRICS_TOKEN must be at least 16 characters without spaces")
    return value


def _notify_events(value: str | None) -> frozenset[str]:
    """GARMINSYNC_NOTIFY_EVENTS: `all` (the default), `none`, or event names, comma-separated."""
    names = [name.strip().lower() for name in (value or "all").split(",") if name.strip()]
    if names == ["all"]:
        return ALL_EVENTS
    if names == ["none"]:
        return frozenset()
    unknown = [name for name in names if name not in CHOOSABLE]
    if unknown:
        raise ConfigError(
            f"GARMINSYNC_NOTIFY_EVENTS: unknown event {unknown[0]!r}; use all, none or any of "
            + ", ".join(CHOOSABLE)
        )
    return frozenset(names)


def _reconcile_cron(value: str | None) -> str | None:
    """GARMINSYNC_RECONCILE_CRON: a cron (UTC) or a preset, or `off`."""
    if value is None:
        return str(_DEFAULTS["reconcile_cron"])
    if value.strip().lower() in ("off", "none", "disabled"):
        return None
    try:
        return validate_cron(value)
    except UsageError as exc:
        raise ConfigError(f"GARMINSYNC_RECONCILE_CRON: {exc}") from None


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = None) -> Settings:
    """Read settings: process environment first, then `.env` (cwd or GARMINSYNC_ENV_FILE)."""
    env = dict(os.environ if environ is None else environ)
    path = env_file or env.get("GARMINSYNC_ENV_FILE") or ".env"
    file_values: dict[str, str | None] = {}
    if Path(path).is_file():
        file_values = dict(dotenv_values(path))
    raw: dict[str, str | None] = {**file_values, **env}

    def get(name: str) -> str | None:
        value = raw.get(name)
        return value if value not in (None, "") else None

    data_dir = Path(get("GARMINSYNC_DATA_DIR") or "./data").expanduser().absolute()
    database_url = normalize_database_url(get("DATABASE_URL") or f"sqlite:///{data_dir / 'garmin.db'}")
    if "://" not in database_url:
        raise ConfigError("DATABASE_URL is not a URL (dialect://user@host/database)")
    redis_url = get("REDIS_URL")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss:// or unix://: {mask_url(redis_url)!r}"
        )
    if redis_url:
        _check_port("REDIS_URL", redis_url)
    api_url = get("GARMINSYNC_GARMIN_API_URL")
    if api_url:
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError(f"GARMINSYNC_GARMIN_API_URL must be an http(s) URL: {api_url!r}")
        api_url = api_url.rstrip("/")
    flower_url = get("GARMINSYNC_FLOWER_URL")
    if flower_url and not flower_url.startswith(("http://", "https://")):
        raise ConfigError(f"GARMINSYNC_FLOWER_URL must be an http(s) URL: {flower_url!r}")
    numbers = {field_name: _number(raw, name, field_name, lo, hi) for name, field_name, lo, hi in _NUMBERS}
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        garmin_api_url=api_url,
        rate=_rate("GARMINSYNC_RATE_LIMIT", get("GARMINSYNC_RATE_LIMIT")) or _DEFAULTS["rate"],
        layout=_check_layout(get("GARMINSYNC_FILE_LAYOUT") or _DEFAULTS["layout"]),
        garmin_email=get("GARMIN_EMAIL"),
        garmin_password=get("GARMIN_PASSWORD"),
        garmintokens=get("GARMINTOKENS"),
        secret_key=get("GARMINSYNC_SECRET_KEY"),
        web_password=get("GARMINSYNC_WEB_PASSWORD"),
        metrics_token=_metrics_token(get("GARMINSYNC_METRICS_TOKEN")),
        flower_url=flower_url,
        global_rate=_rate("GARMINSYNC_GLOBAL_RATE_LIMIT", get("GARMINSYNC_GLOBAL_RATE_LIMIT")),
        web_allowed_hosts=_allowed_hosts(get("GARMINSYNC_WEB_ALLOWED_HOSTS")),
        umask=_umask(get("GARMINSYNC_UMASK")),
        web_secure_cookie=_bool(raw, "GARMINSYNC_WEB_SECURE_COOKIE", "web_secure_cookie"),
        notify_urls=check_urls(split_urls(get("GARMINSYNC_NOTIFY_URLS")), "GARMINSYNC_NOTIFY_URLS"),
        notify_events=_notify_events(get("GARMINSYNC_NOTIFY_EVENTS")),
        reconcile_cron=_reconcile_cron(get("GARMINSYNC_RECONCILE_CRON")),
        formats=_formats(get("GARMINSYNC_FORMATS")),
        save_details=_bool(raw, "GARMINSYNC_SAVE_DETAILS", "save_details"),
        **numbers,  # type: ignore[arg-type]
    )


def _rate(name: str, text: str | None) -> RateSpec | None:
    if text is None:
        return None
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
