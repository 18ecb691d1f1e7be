"""Garmin tokens, encrypted at rest, where every worker can read them.

Garmin rotates the refresh token on every refresh, so there must be one copy
that all workers share: the `accounts.token_blob` column, encrypted with
Fernet under `GARMINSYNC_SECRET_KEY` (or a key generated once into
`<data dir>/secret.key`, mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from shared.errors import AuthRequired, ConfigError, StorageError


def _fernet_from_secret(secret: str) -> Fernet:
    """Any passphrase works: it is stretched to a Fernet key with SHA-256."""
    digest = hashlib.sha256(secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def load_or_create_secret(data_dir: Path, configured: str | None) -> str:
    if configured:
        return configured
    path = data_dir / "secret.key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from None
    secret = Fernet.generate_key().decode()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
    except FileExistsError:
        return path.read_text().strip()  # another process won the race
    except OSError as exc:
        raise StorageError(f"cannot create {path}: {exc.strerror}") from None
    return secret


class TokenCipher:
    def __init__(self, secret: str) -> None:
        self._fernet = _fernet_from_secret(secret)

    def encrypt(self, token_json: str) -> bytes:
        return self._fernet.encrypt(token_json.encode())

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._fernet.decrypt(blob).decode()
        except InvalidToken:
            raise ConfigError(
                "stored Garmin tokens cannot be decrypted: GARMINSYNC_SECRET_KEY changed? "
                "Run `garminsync login` again."
            ) from None


@dataclass(frozen=True)
class Tokens:
    """garminconnect's token JSON, parsed only as far as we need."""

    raw: str

    @classmethod
    def parse(cls, text: str) -> Tokens:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise AuthRequired("the token JSON is not valid JSON") from None
        if not isinstance(data, dict) or not data.get("di_token"):
            raise AuthRequired("the token JSON has no di_token")
        return cls(text)

    @property
    def refresh_token(self) -> str | None:
        value = json.loads(self.raw).get("di_refresh_token")
        return str(value) if value else None

    def refresh_expiry(self) -> datetime | None:
        """The refresh token's own `exp` when it is a JWT (imported tokens); None when it says none."""
        token = self.refresh_token or ""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            exp = claims.get("exp") if isinstance(claims, dict) else None
            if isinstance(exp, bool) or not isinstance(exp, int | float):
                return None
            return datetime.fromtimestamp(exp, UTC)
        except (ValueError, OverflowError, OSError):
            return None


def read_token_source(location: str) -> Tokens | None:
    """GARMINTOKENS: inline JSON, a token file, or a directory holding garmin_tokens.json."""
    text = location.strip()
    if text.startswith("{"):
        return Tokens.parse(text)
    path = Path(text).expanduser()
    if path.is_dir() or path.suffix.lower() != ".json":
        path = path / "garmin_tokens.json"
    try:
        return Tokens.parse(path.read_text())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuthRequired(f"cannot read the token file {path}: {exc.strerror}") from None


def write_token_file(location: str, tokens: Tokens) -> Path | None:
    """Mirror tokens into GARMINTOKENS (garminconnect's layout, 0600); skip inline JSON."""
    if location.strip().startswith("{"):
        return None
    path = Path(location).expanduser()
    if path.is_dir() or path.suffix.lower() != ".json":
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = path / "garmin_tokens.json"
    else:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(tokens.raw)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write the token file {path}: {exc.strerror}") from None
    return path


def now_utc() -> datetime:
    return datetime.now(UTC)
