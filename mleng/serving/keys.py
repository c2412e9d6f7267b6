"""API keys for the prediction service: a file of hashed keys, each with one role.

A key is `mleng_<id>_<secret>`. The file keeps the id, the role and the SHA-256 of the whole key,
never the key: whoever reads the file (a backup, a CI log) cannot call the service. SHA-256 without
a slow hash is enough because the secret is 256 random bits, not a password a person chose.
The service reads the file again when it changes, so a new or revoked key takes effect without a
restart.

Roles: `predict` (POST /predict), `feedback` (POST /feedback), `admin` (strategy, reload,
rollback). Any valid key may read `/metrics` and the OpenAPI schema; `/health` and `/ready` need
none.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from mleng.errors import MlengError

ROLES = ("predict", "feedback", "admin")
_PREFIX = "mleng_"


class KeyFileError(MlengError):
    """The key file cannot be read or holds something that is not a key list."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key: its public id, its role and the hash of the whole key."""

    key_id: str
    role: str
    sha256: str
    created_at: float


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def read_keys(path: Path) -> dict[str, ApiKey]:
    """The keys in `path` by id; an absent file holds none."""
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text() or "{}")
        entries = document.get("keys", [])
        keys = [ApiKey(**entry) for entry in entries]
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise KeyFileError(
            f"the key file {path} is not a mleng key file ({error}); create keys with "
            "`mleng keys create --role ROLE --file FILE`"
        ) from error
    unknown = sorted({key.role for key in keys} - set(ROLES))
    if unknown:
        raise KeyFileError(f"the key file {path} holds unknown roles {unknown}; use {ROLES}")
    return {key.key_id: key for key in keys}


def create_key(path: Path, role: str) -> tuple[str, str]:
    """Add a new key with `role` to `path`; return (key id, key). Only the hash is written."""
    if role not in ROLES:
        raise KeyFileError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    keys = read_keys(path)
    key_id = secrets.token_hex(4)
    while key_id in keys:
        key_id = secrets.token_hex(4)
    key = f"{_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    keys[key_id] = ApiKey(key_id, role, hash_key(key), round(time.time(), 3))
    _write_atomically(path, {"keys": [vars(entry) for entry in keys.values()]})
    return key_id, key


def _write_atomically(path: Path, document: dict) -> None:
    """Replace `path` whole, readable by its owner only: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(document, file, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class KeyRing:
    """The keys of a file, re-read when the file changes (checked at most once a second)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._keys = read_keys(self.path)
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()

    def identify(self, key: str) -> ApiKey | None:
        """The stored key matching `key`, or None: compared in constant time."""
        self._refresh()
        if not key.startswith(_PREFIX):
            return None
        key_id = key[len(_PREFIX) :].split("_", 1)[0]
        stored = self._keys.get(key_id)
        if stored is None or not hmac.compare_digest(stored.sha256, hash_key(key)):
            return None
        return stored

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime, stat.st_size

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        self._checked = now
        stamp = self._file_stamp()
        if stamp != self._stamp:
            try:
                self._keys = read_keys(self.path)
            except KeyFileError:
                return  # keep serving with the last good keys; the next change is read again
            self._stamp = stamp
