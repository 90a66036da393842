"""Passwords and tokens. Secrets are shown once and stored only as hashes.

Passwords use argon2id (slow on purpose, salted). Session and API tokens are long random
strings, so a plain SHA-256 of them is enough to store and look them up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from facesift.errors import InvalidInput

MIN_PASSWORD_CHARS = 12
API_TOKEN_PREFIX = "fs_"
_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown name as slow as one for a real name.
_DUMMY_HASH = _hasher.hash("facesift-timing-equaliser")


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters, 120 bits


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _hasher.hash(password)


# Stored in place of a hash while an account waits for its user to set a password: it is
# no argon2 hash, so no password verifies against it.
NO_PASSWORD = "!none"


def verify_password(password_hash: str | None, password: str) -> bool:
    # No password (unknown name, or none set yet): still as slow as a real check.
    usable = password_hash is not None and password_hash.startswith("$argon2")
    try:
        return _hasher.verify(password_hash if usable else _DUMMY_HASH, password) and usable
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
