"""The one door to Garmin Connect: garminconnect 0.3.x, limited and mapped.

Every request the client sends passes the account's rate limit: API calls
through an HTTP adapter mounted on the client's session, token refreshes and
exchanges through a wrapper on its token POST. Our retries are the only ones
(`retry_attempts=0`). Token refreshes happen under a shared lock and are
persisted at once, because Garmin rotates the refresh token on every refresh.
Errors leave here as the project's own types (`shared.errors`).
"""

from __future__ import annotations

import email.utils
import logging
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any, Protocol

import requests
from garminconnect import (
    Garmin,
    GarminConnectAuthenticationError,
    GarminConnectConnectionError,
    GarminConnectNotFoundError,
    GarminConnectTooManyRequestsError,
)
from requests.adapters import HTTPAdapter

from shared.coordination import Coordinator
from shared.errors import (
    AuthRequired,
    BadArchive,
    GarminSyncError,
    NotFound,
    RateLimited,
    TransientError,
)
from shared.garmin_values import clean_text
from shared.ratelimit import RateLimiter
from shared.tokens import Tokens

log = logging.getLogger(__name__)

MAX_LIST_LIMIT = 1000
LOGIN_REQUEST_COST = 4  # sign-in page, credentials, token exchange, profile
SOCIAL_PROFILE = "/userprofile-service/socialProfile"


class TokenAccess(Protocol):
    """Where one account's tokens live (the database in production)."""

    def load(self) -> Tokens | None: ...

    def load_or_import(self) -> Tokens:
        """Tokens to use; AuthRequired when there are none or the account needs a login."""
        ...

    def save(self, tokens: Tokens, refresh_expires_at: datetime | None = None) -> None: ...

    def mark_needs_login(self, reason: str) -> None: ...

    def needs_login(self) -> bool: ...


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds (delta or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _LimitedAdapter(HTTPAdapter):
    """Takes a rate-limit slot before each API request; notes 429s after."""

    def __init__(self, gateway: GarminGateway) -> None:
        super().__init__(pool_connections=4, pool_maxsize=4)
        self._gateway = gateway

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self._gateway.before_request()
        response = super().send(request, *args, **kwargs)
        self._gateway.after_response(response.status_code, response.headers)
        return response


@dataclass(frozen=True)
class Original:
    """An activity's original file, out of Garmin's ZIP."""

    entry_name: str
    data: bytes


def unzip_original(payload: bytes) -> Original:
    """The single file inside Garmin's original-download ZIP."""
    try:
        with zipfile.ZipFile(BytesIO(payload)) as archive:
            names = [info for info in archive.infolist() if not info.is_dir()]
            if not names:
                raise BadArchive("Garmin's ZIP is empty")
            info = names[0]
            return Original(info.filename.rsplit("/", 1)[-1], archive.read(info))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise BadArchive(f"Garmin sent a broken ZIP ({exc})") from None
    except (OSError, RuntimeError) as exc:  # CRC errors inside the ZIP surface as these
        raise BadArchive(f"Garmin sent a damaged ZIP ({exc})") from None


class GarminGateway:
    """One account's session with Garmin Connect."""

    def __init__(
        self,
        *,
        account_key: str,
        limiter: RateLimiter,
        coordinator: Coordinator,
        tokens: TokenAccess,
        api_url: str | None = None,
        max_wait: float | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.account_key = account_key
        self.limiter = limiter
        self.coordinator = coordinator
        self.tokens = tokens
        self.api_url = api_url
        self.max_wait = max_wait
        self.timeout = timeout
        self.requests_sent = 0
        self._refresh_refused = False
        self._clear_strikes = True
        self._garmin: Garmin | None = None
        # From Garmin's last token answer (garminconnect drops it): when a new login is due.
        self._refresh_expires_at: datetime | None = None

    # --- the hooks every request passes ------------------------------------

    def before_request(self) -> None:
        self.limiter.acquire(self.account_key, max_wait=self.max_wait)
        self.requests_sent += 1

    def wait_for_budget(self) -> None:
        """Wait (up to `max_wait`) until a request may go; RateLimited, before any call, if not."""
        self.limiter.wait_for_slot(self.account_key, self.max_wait)

    def after_response(self, status: int, headers: Any) -> None:
        if status == 429:
            self.limiter.note_429(self.account_key, parse_retry_after(headers.get("Retry-After")))
            self._clear_strikes = True
        elif status < 400 and self._clear_strikes:
            self.limiter.note_success(self.account_key)
            self._clear_strikes = False

    # --- building a client -------------------------------------------------

    def _new_garmin(self, **kwargs: Any) -> Garmin:
        garmin = Garmin(retry_attempts=0, **kwargs)
        client: Any = garmin.client
        if self.api_url:
            # Every Garmin host, so no fallback path of the library reaches the real service.
            client._connectapi = client._connect = client._sso = self.api_url
            client._di_token_url = f"{self.api_url}/di-oauth2-service/oauth/token"
            client._ios_service_url = f"{self.api_url}/gcm/ios"
            client._mobile_sso_service_url = f"{self.api_url}/gcm/android"
            client._portal_service_url = f"{self.api_url}/app"
        adapter = _LimitedAdapter(self)
        client._api_session.mount("https://", adapter)
        client._api_session.mount("http://", adapter)
        original_post = client._http_post

        def limited_post(url: str, **post_kwargs: Any) -> Any:
            self.before_request()
            response = original_post(url, **post_kwargs)
            self.after_response(response.status_code, response.headers)
            if url == client._di_token_url:
                self._note_token_answer(response)
            return response

        client._http_post = limited_post
        original_refresh = client._refresh_di_token
        client._refresh_di_token = lambda: self._refresh_tokens(client, original_refresh)
        return garmin

    def _note_token_answer(self, response: Any) -> None:
        """Garmin's token answer says how long the refresh token lasts (`refresh_token_expires_in`)."""
        if not response.ok:
            return
        try:
            seconds = response.json().get("refresh_token_expires_in")
        except (ValueError, AttributeError):
            return
        if (
            isinstance(seconds, int | float)
            and not isinstance(seconds, bool)
            and 0 < seconds < 10 * 365 * 86400
        ):
            self._refresh_expires_at = datetime.now(UTC) + timedelta(seconds=seconds)

    def connect(self) -> Garmin:
        """A client on the stored tokens (no request to Garmin); picks up newer tokens."""
        stored = self.tokens.load_or_import()
        if self._garmin is None:
            self._garmin = self._new_garmin()
        client: Any = self._garmin.client
        if client.di_token is None or client.di_refresh_token != stored.refresh_token:
            try:
                client.loads(stored.raw)
            except GarminConnectConnectionError:
                raise AuthRequired("the stored Garmin tokens are unreadable") from None
            self._refresh_refused = False
        return self._garmin

    def _refresh_tokens(self, client: Any, refresh: Callable[[], None]) -> None:
        """Refresh once per account at a time, adopting a refresh another worker made."""
        if self._refresh_refused:
            raise GarminConnectAuthenticationError("token refresh already refused")
        with self.coordinator.lock(f"refresh:{self.account_key}", timeout_s=60, wait_s=60) as got:
            if not got:
                raise GarminConnectConnectionError("timed out waiting for another token refresh")
            if self.tokens.needs_login():  # another worker's refresh was just refused
                self._refresh_refused = True
                raise GarminConnectAuthenticationError("the account needs a new login")
            stored = self.tokens.load()
            if stored is not None and stored.refresh_token != client.di_refresh_token:
                client.loads(stored.raw)
                if not client._token_expires_soon():
                    log.debug("adopted tokens refreshed by another worker")
                    return
            try:
                refresh()
            except GarminConnectAuthenticationError as exc:
                self._refresh_refused = True
                self.tokens.mark_needs_login(f"Garmin refused the token refresh ({exc})")
                raise
            self.tokens.save(Tokens(client.dumps()), self._refresh_expires_at)
            log.info("refreshed Garmin tokens for %s", self.account_key)

    # --- calls ---------------------------------------------------------------

    @contextmanager
    def _mapped_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except GarminSyncError:
            raise
        except GarminConnectTooManyRequestsError:
            raise RateLimited(
                f"Garmin rate-limited {what}",
                retry_after=self.limiter.cooldown_remaining(self.account_key) or None,
            ) from None
        except GarminConnectAuthenticationError:
            if not self._refresh_refused:
                self.tokens.mark_needs_login("Garmin rejected the tokens")
            raise AuthRequired("Garmin rejected the stored tokens: run `garminsync login` again") from None
        except GarminConnectNotFoundError:
            raise NotFound(f"Garmin has no {what}") from None
        except GarminConnectConnectionError as exc:
            ours = _our_error_in_chain(exc)
            if ours is not None:
                raise ours from None
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status is None:
                status = _status_from_cause(exc)
            if status == 401:
                raise AuthRequired("Garmin rejected the tokens: run `garminsync login`") from None
            if status is not None and 400 <= status < 500:
                raise GarminSyncError(f"Garmin refused {what} (HTTP {status})") from None
            label = f"HTTP {status}" if status else "network error"
            raise TransientError(f"Garmin failed on {what} ({label})") from None
        except (requests.RequestException, OSError) as exc:
            raise TransientError(f"network error on {what}: {type(exc).__name__}") from None

    def list_activities(self, start: int, limit: int) -> list[dict[str, Any]]:
        """One page of the activity list, newest first."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"page size must be 1..{MAX_LIST_LIMIT}")
        garmin = self.connect()
        with self._mapped_errors("the activity list"):
            page = garmin.get_activities(start=start, limit=limit)
        if not isinstance(page, list):
            raise TransientError("Garmin's activity list was not a list")
        return page

    def download_original(self, activity_id: int) -> bytes:
        garmin = self.connect()
        with self._mapped_errors(f"original file for activity {activity_id}"):
            return bytes(
                garmin.download_activity(str(activity_id), dl_fmt=Garmin.ActivityDownloadFormat.ORIGINAL)
            )

    def download_export(self, activity_id: int, fmt: str) -> bytes:
        """Garmin's GPX or TCX export of an activity (plain XML, not a ZIP)."""
        formats = {"gpx": Garmin.ActivityDownloadFormat.GPX, "tcx": Garmin.ActivityDownloadFormat.TCX}
        garmin = self.connect()
        with self._mapped_errors(f"{fmt.upper()} export of activity {activity_id}"):
            return bytes(garmin.download_activity(str(activity_id), dl_fmt=formats[fmt]))

    def activity_details(self, activity_id: int) -> dict[str, Any]:
        """The activity's details (`/activity-service/activity/{id}`): one request."""
        garmin = self.connect()
        with self._mapped_errors(f"details of activity {activity_id}"):
            answer = garmin.get_activity(str(activity_id))
        if not isinstance(answer, dict):
            raise TransientError(f"Garmin's details of activity {activity_id} were not an object")
        return answer

    # --- interactive login -----------------------------------------------------

    def _login_guard(self) -> Any:
        return self.coordinator.lock(f"login:{self.account_key}", timeout_s=600, wait_s=0)

    def login(self, email: str, password: str, prompt_mfa: Callable[[], str] | None) -> Profile:
        """Credential login (MFA through `prompt_mfa`); stores the tokens."""
        with self._login_guard() as got:
            if not got:
                raise RateLimited("another login for this account is in progress")
            for _ in range(LOGIN_REQUEST_COST - 1):
                self.before_request()
            garmin = self._new_garmin(email=email, password=password, prompt_mfa=prompt_mfa)
            with self._mapped_login_errors():
                garmin.client.login(email, password, prompt_mfa=prompt_mfa)
            return self._finish_login(garmin)

    def begin_login(self, email: str, password: str) -> tuple[Profile | None, dict[str, Any] | None]:
        """Start a login that may stop for MFA: (profile, None) or (None, mfa_state)."""
        with self._login_guard() as got:
            if not got:
                raise RateLimited("another login for this account is in progress")
            for _ in range(LOGIN_REQUEST_COST - 1):
                self.before_request()
            garmin = self._new_garmin(email=email, password=password, return_on_mfa=True)
            with self._mapped_login_errors():
                status, state = garmin.client.login(email, password, return_on_mfa=True)
            if status == "needs_mfa":
                return None, dict(state)
            return self._finish_login(garmin), None

    def resume_login(self, mfa_state: dict[str, Any], code: str) -> Profile:
        garmin = self._new_garmin()
        with self._mapped_login_errors():
            garmin.client.resume_login(mfa_state, code)
        return self._finish_login(garmin)

    def _finish_login(self, garmin: Garmin) -> Profile:
        client: Any = garmin.client
        tokens = Tokens(client.dumps())
        self._refresh_refused = False
        self.tokens.save(tokens, self._refresh_expires_at)
        self._garmin = garmin
        profile: dict[str, Any] = {}
        with self._mapped_errors("the profile"):
            answer = garmin.connectapi(SOCIAL_PROFILE)
            if isinstance(answer, dict):
                profile = answer
        return Profile(
            display_name=clean_text(profile.get("displayName"), 255) or "",
            full_name=clean_text(profile.get("fullName"), 255) or "",
            tokens=tokens,
        )

    @contextmanager
    def _mapped_login_errors(self) -> Iterator[None]:
        try:
            yield
        except GarminConnectTooManyRequestsError:
            raise RateLimited("Garmin is rate-limiting logins; wait before trying again") from None
        except GarminConnectAuthenticationError as exc:
            text = str(exc).lower()
            if "mfa" in text:
                raise AuthRequired("the MFA code was not accepted") from None
            raise AuthRequired("Garmin refused the email or password") from None
        except GarminConnectConnectionError as exc:
            raise TransientError(f"login failed: {str(exc).splitlines()[0][:200]}") from None
        except (requests.RequestException, OSError) as exc:
            raise TransientError(f"network error during login: {type(exc).__name__}") from None


@dataclass(frozen=True)
class Profile:
    display_name: str
    full_name: str
    tokens: Tokens


def _our_error_in_chain(exc: BaseException) -> GarminSyncError | None:
    """garminconnect wraps what our adapter raised (rate limit, Redis down); unwrap it."""
    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        if isinstance(current, GarminSyncError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _status_from_cause(exc: BaseException) -> int | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        current = current.__cause__ or current.__context__
    return None
