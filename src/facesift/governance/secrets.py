"""Passwords and tokens. Secrets are shown once and stored only as hashes.

Passwords use argon2id (slow on purpose, salted). Session and API tokens are long random
strings, so a plain SHA-256 of them is enough to store and look them up.

Every argon2 computation runs in a small pool of its own (``HASH_WORKERS`` at once) whose
threads run at a lower CPU priority (nice 10; argon2's own lane threads inherit it). A hash
takes about 0.3 s of CPU on purpose; run at normal priority beside other requests, a flood
of sign-ins took the CPU from everyone: another user's ``GET /api/me`` p99 went from 20 ms
to 305 ms (issue 12). Lowered, the hashing gets the CPU the requests leave.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from facesift.errors import InvalidInput

MIN_PASSWORD_CHARS = 12
API_TOKEN_PREFIX = "fs_"
_hasher = PasswordHasher()
HASH_WORKERS = 2
HASH_NICE = 10


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # Linux: a thread's own nice value
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)


_pool = ThreadPoolExecutor(HASH_WORKERS, "argon2", initializer=_lower_priority)


@cache
def _dummy_hash() -> str:
    """Verifying against this keeps a login for an unknown name as slow as one for a real
    name. Made on first use, not at import: every command imports this module, and one hash
    costs a quarter of a second."""
    return _hasher.hash("facesift-timing-equaliser")


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _pool.submit(_hasher.hash, password).result()


# Stored in place of a hash while an account waits for its user to set a password: it is
# no argon2 hash, so no password verifies against it.
NO_PASSWORD = "!none"


def verify_password(password_hash: str | None, password: str) -> bool:
    # No password (unknown name, or none set yet): still as slow as a real check.
    usable = password_hash is not None and password_hash.startswith("$argon2")
    checked = password_hash if password_hash is not None and usable else _dummy_hash()
    return _pool.submit(_verify, checked, password).result() and usable


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
