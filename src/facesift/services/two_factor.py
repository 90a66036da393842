"""Two-factor sign-in with TOTP (RFC 6238, the codes of any authenticator app), via pyotp.

Optional for each user, and required for the roles the ``totp_required_roles`` setting
lists: a user holding such a role who has not set it up can reach only their account page
(``/account``, ``/api/me``, ``/api/me/totp...``) until they do. A code is accepted for its
30-second step and the one before or after (clock drift), and never twice: the last
accepted step is stored, so a code seen over a shoulder or in a log cannot be replayed.
A wrong code at sign-in counts toward the lock-out like a wrong password.

The secret is stored as it is (base32): the server must read it to check a code. Whoever
can read the users table can therefore make codes, as with any TOTP server; they would
still need the password, which is stored only as an argon2 hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp

ISSUER = "facesift"
VALID_WINDOW = 1  # steps either side of now


@dataclass(frozen=True)
class TotpSetup:
    secret: str  # base32, for typing into an app by hand
    uri: str  # otpauth://..., for an app that reads a QR code or a link


def new_setup(user_name: str) -> TotpSetup:
    secret = pyotp.random_base32()
    return TotpSetup(
        secret, pyotp.TOTP(secret).provisioning_uri(name=user_name, issuer_name=ISSUER)
    )


def accepted_step(secret: str, code: str | None, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, if it is valid and newer than ``last_step``."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(datetime.now(UTC))
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if step > (last_step or -1) and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
