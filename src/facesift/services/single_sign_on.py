"""Single sign-on with OpenID Connect (authorization code flow with PKCE), through Authlib
(the OAuth client) and joserfc (Authlib's successor to ``authlib.jose``, for the ID token).

facesift is the relying party. The provider proves who the user is; **the roles stay
facesift's**: a sign-in maps the ID token's ``preferred_username`` (or the claim
``FACESIFT_OIDC_USERNAME_CLAIM`` names) to the facesift account of that name, which must
exist and be active, and the session gets that account's roles, never anything the
provider says. An account with facesift's own two-factor sign-in on signs in with its
password and code instead (the provider's second factor is the provider's business).

Configured by the environment of ``facesift serve`` (unset: no single sign-on):
``FACESIFT_OIDC_ISSUER``, ``FACESIFT_OIDC_CLIENT_ID``, ``FACESIFT_OIDC_CLIENT_SECRET``.

Checks, each refusing the sign-in: the ``state`` must be one this process issued, within
10 minutes, to this browser (a cookie carries it); the code is exchanged with the PKCE
verifier; the ID token's signature (the provider's published keys), issuer, audience,
expiry and ``nonce`` are verified. Pending sign-ins are kept in the database (by the hash
of their state, used once), so any of the server's processes can finish one.
"""

from __future__ import annotations

import os
import secrets
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from facesift.errors import NotFound, Unauthenticated
from facesift.governance.secrets import token_hash
from facesift.store.accounts import SignOnRecords

with warnings.catch_warnings():  # Authlib would rather have httpx2; httpx works as well
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

PENDING_SECONDS = 600
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    username_claim: str = "preferred_username"

    @classmethod
    def from_environment(cls) -> OidcConfig | None:
        issuer = os.environ.get("FACESIFT_OIDC_ISSUER")
        if not issuer:
            return None
        return cls(
            issuer.rstrip("/"),
            os.environ["FACESIFT_OIDC_CLIENT_ID"],
            os.environ["FACESIFT_OIDC_CLIENT_SECRET"],
            os.environ.get("FACESIFT_OIDC_USERNAME_CLAIM") or "preferred_username",
        )


class SingleSignOn:
    def __init__(self, config: OidcConfig | None):
        self.config = config
        self._metadata: dict | None = None

    @property
    def enabled(self) -> bool:
        return self.config is not None

    def _require(self) -> OidcConfig:
        if self.config is None:
            raise NotFound("single sign-on is not set up on this server")
        return self.config

    def _discovery(self) -> dict:
        if self._metadata is None:
            url = f"{self._require().issuer}/.well-known/openid-configuration"
            metadata = httpx.get(url, timeout=HTTP_TIMEOUT).raise_for_status().json()
            if metadata.get("issuer") != self._require().issuer:
                raise Unauthenticated("the identity provider names another issuer")
            self._metadata = metadata
        return self._metadata

    def _client(self, redirect_uri: str) -> OAuth2Client:
        config = self._require()
        return OAuth2Client(
            config.client_id,
            config.client_secret,
            scope="openid profile",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT,
        )

    def start(self, redirect_uri: str, pending: SignOnRecords) -> tuple[str, str]:
        """The provider's URL to send the browser to, and the state to keep in a cookie."""
        self._require()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(48)
        expires = datetime.now(UTC) + timedelta(seconds=PENDING_SECONDS)
        pending.add(
            token_hash(state), nonce, verifier, redirect_uri, expires.isoformat("T", "microseconds")
        )
        url, _ = self._client(redirect_uri).create_authorization_url(
            self._discovery()["authorization_endpoint"],
            state=state,
            nonce=nonce,
            code_verifier=verifier,
        )
        assert create_s256_code_challenge(verifier) in url  # PKCE is really sent
        return url, state

    def finish(
        self, state: str, cookie_state: str | None, code: str, pending: SignOnRecords
    ) -> str:
        """The facesift account name the provider vouches for."""
        config = self._require()
        if not cookie_state or not secrets.compare_digest(state, cookie_state):
            raise Unauthenticated("this sign-in was started in another browser")
        row = pending.take(token_hash(state))
        if row is None:
            raise Unauthenticated("this sign-in is unknown, used or expired; start again")
        metadata = self._discovery()
        try:
            token = self._client(row["redirect_uri"]).fetch_token(
                metadata["token_endpoint"],
                code=code,
                code_verifier=row["verifier"],
                grant_type="authorization_code",
            )
        except Exception as exc:  # the provider refused the code: any error is a refusal
            raise Unauthenticated("the identity provider refused the sign-in") from exc
        if "id_token" not in token:
            raise Unauthenticated("the identity provider sent no ID token")
        keys = KeySet.import_key_set(
            httpx.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT).raise_for_status().json()
        )
        expected = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.client_id},
            exp={"essential": True},
            nonce={"essential": True, "value": row["nonce"]},
        )
        try:
            claims = jwt.decode(token["id_token"], keys).claims
            expected.validate(claims)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(f"the ID token does not check out ({exc})") from None
        name = claims.get(config.username_claim)
        if name is None and metadata.get("userinfo_endpoint"):
            # Providers may keep profile claims out of the ID token: ask for them, for the
            # same subject.
            info = httpx.get(
                metadata["userinfo_endpoint"],
                headers={"Authorization": f"Bearer {token['access_token']}"},
                timeout=HTTP_TIMEOUT,
            )
            if info.status_code == 200 and info.json().get("sub") == claims.get("sub"):
                name = info.json().get(config.username_claim)
        if not isinstance(name, str) or not name:
            raise Unauthenticated(f"the ID token has no {config.username_claim!r} claim")
        return name
