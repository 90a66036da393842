"""Sealing for opt-out data: the selfies (until the request is done) and the suppression
templates are encrypted at rest with Fernet (AES-128-CBC with an HMAC-SHA256, from
``cryptography``), so a copy of the database (a PostgreSQL dump, a stolen backup) holds no
usable face data of the people who asked to be left out.

The key comes from the setting ``FACESIFT_OPTOUT_KEY`` (a Fernet key in the environment of
every facesift process) or, without it, from ``optout.key`` in the data folder, made on first
use and readable by its owner only. Keep that file out of database backups, and back it up
apart: without it the templates cannot suppress anyone.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from facesift.errors import FacesiftError

KEY_VARIABLE = "FACESIFT_OPTOUT_KEY"
KEY_FILE = "optout.key"


class Sealer:
    def __init__(self, key: bytes):
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise FacesiftError(
                f"the opt-out key is not a Fernet key ({KEY_VARIABLE} or {KEY_FILE}): {exc}"
            ) from None

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Sealer:
        from_env = os.environ.get(KEY_VARIABLE, "").strip()
        if from_env:
            return cls(from_env.encode())
        path = data_dir / KEY_FILE
        if not path.exists():
            key = Fernet.generate_key()
            # O_EXCL: two processes making the key at once keep the first one's.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(key)
        return cls(path.read_bytes().strip())

    def seal(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def unseal(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise FacesiftError(
                "opt-out data cannot be decrypted with this key: was the key changed?"
            ) from None
