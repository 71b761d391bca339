"""Bearer-token authentication: who is calling, from a verified JWT and the directory.

Tokens are verified with pinned asymmetric algorithms against a configured PEM
public key or a JWKS endpoint; issuer, audience, subject, issue and expiry times
are required. The token's claims say who the caller claims to be; the directory
(``CareRecord.resolve_actor``) confirms it and supplies roles and teams. Identity
is never taken from a request body.

Three kinds of caller (claim ``kind``):

- ``practitioner``: ``sub`` is the practitioner id; ``agency``, ``profession`` and
  ``roles`` are required (roles come from the directory, not the token);
- ``agency_system``: client credentials of an agency's own system, ``sub`` is the
  agency code;
- ``client``: the person themselves (subject access), ``sub`` is their client id.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import orjson

from api.errors import UNAUTHENTICATED, ApiError
from api.keys import load_public_key
from api.settings import ApiSettings
from carerecord import errors as core
from carerecord.application import CareRecord
from carerecord.ids import parse_client_id, parse_code
from carerecord.memory import BoundedCache
from carerecord.values import Viewer
from carerecord.vocab import ViewerKind

MAX_TOKEN_LENGTH = 8_192
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
VERIFIED_CACHE_SIZE = 10_000
VERIFIED_CACHE_BYTES = 16 * 1024 * 1024
"""The verified-token memo's budget: a token (and so its claims) can be up to
``MAX_TOKEN_LENGTH`` long, so a count alone would let it reach hundreds of MB."""


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: who they are (checked against the directory) and until when."""

    viewer: Viewer
    expires_at: datetime
    token_id: str | None = None


def unauthenticated(reason: str) -> ApiError:
    return ApiError(UNAUTHENTICATED, "A valid bearer token is required.", reason=reason)


class TokenVerifier:
    """Verifies bearer tokens; built once at start-up (it reads the key file).

    A verified token's claims are remembered (bounded, by the token's digest) until it
    expires, so a client reusing its token is not re-verified on every request; its
    expiry is still checked every time.
    """

    def __init__(self, settings: ApiSettings) -> None:
        if settings.issuer is None or settings.audience is None:
            raise ValueError("issuer and audience must be configured")
        self.issuer = settings.issuer
        self.audience = settings.audience
        self.algorithms = list(settings.algorithms)
        self.leeway = settings.leeway_seconds
        self.max_lifetime = settings.max_token_lifetime_seconds
        self._key: Any = None
        self._jwks: jwt.PyJWKClient | None = None
        self._verified: BoundedCache[bytes, dict[str, Any]] = BoundedCache(
            max_items=VERIFIED_CACHE_SIZE, max_bytes=VERIFIED_CACHE_BYTES, weigh=_claims_bytes
        )
        self._lock = threading.Lock()
        if settings.public_key_path is not None:
            self._key = load_public_key(
                settings.public_key_path, variable="CARERECORD_JWT_PUBLIC_KEY"
            )
        elif settings.jwks_url is not None:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)
        else:
            raise ValueError("a public key or a JWKS URL must be configured")

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ``UNAUTHENTICATED`` (blocking: may fetch the JWKS)."""
        if len(token) > MAX_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
            raise unauthenticated("malformed")
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            known = self._verified.get(digest)
        if known is not None:
            if time.time() >= known["exp"] + self.leeway:
                raise unauthenticated("expired")
            return known
        claims = self._verify(token)
        with self._lock:
            self._verified.put(digest, claims)
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthenticated("malformed") from None
        if header.get("alg") not in self.algorithms:
            raise unauthenticated("algorithm_not_allowed")
        try:
            key = self._key
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS), "strict_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("expired") from None
        except jwt.ImmatureSignatureError:
            raise unauthenticated("not_yet_valid") from None
        except jwt.MissingRequiredClaimError:
            raise unauthenticated("missing_claim") from None
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError):
            raise unauthenticated("wrong_issuer_or_audience") from None
        except jwt.PyJWKClientError:
            raise unauthenticated("unknown_key") from None
        except jwt.PyJWTError:
            raise unauthenticated("invalid") from None
        issued, expires = claims["iat"], claims["exp"]
        if not _number(issued) or not _number(expires) or expires - issued > self.max_lifetime:
            raise unauthenticated("lifetime_too_long")
        return claims


def claimed_viewer(claims: dict[str, Any]) -> Viewer:
    """Who the token says the caller is (not yet checked against the directory)."""
    kind = claims.get("kind")
    sub = claims.get("sub")
    try:
        if kind == ViewerKind.PRACTITIONER.value:
            agency, profession, roles = (
                claims.get("agency"),
                claims.get("profession"),
                claims.get("roles"),
            )
            if not isinstance(profession, str) or not isinstance(roles, list):
                raise unauthenticated("missing_claim")
            if not all(isinstance(r, str) for r in roles):
                raise unauthenticated("invalid_claim")
            return Viewer(
                kind=ViewerKind.PRACTITIONER,
                practitioner_id=parse_code(sub, field="sub"),
                agency_id=parse_code(agency, field="agency"),
                profession=profession,
            )
        if kind == ViewerKind.AGENCY_SYSTEM.value:
            agency_id = parse_code(sub, field="sub")
            if claims.get("agency", agency_id) != agency_id:
                raise unauthenticated("invalid_claim")
            return Viewer(kind=ViewerKind.AGENCY_SYSTEM, agency_id=agency_id)
        if kind == ViewerKind.CLIENT.value:
            return Viewer(kind=ViewerKind.CLIENT, client_id=str(parse_client_id(sub, field="sub")))
    except core.InvalidIdentifier:
        raise unauthenticated("invalid_claim") from None
    if kind is None:
        raise unauthenticated("missing_claim")
    raise unauthenticated("invalid_claim")


class Authenticator:
    """Turns an ``Authorization`` header into a ``Caller`` (blocking: call it in a thread).

    The directory's answer for a claimed identity is remembered for ``directory_ttl``
    seconds (0: ask every time): a practitioner who leaves, or whose roles change, is
    refused or re-roled within that time.
    """

    def __init__(
        self, verifier: TokenVerifier, care_record: CareRecord, *, directory_ttl: float = 0.0
    ) -> None:
        self.verifier = verifier
        self.care_record = care_record
        self.directory_ttl = directory_ttl
        self._resolved: dict[Viewer, tuple[float, Viewer]] = {}
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Caller:
        token = bearer_token(authorization)
        claims = self.verifier.verify(token)
        claimed = claimed_viewer(claims)
        try:
            viewer = self._resolve(claimed)
        except (core.PractitionerNotFound, core.AgencyNotFound, core.InvalidIdentifier):
            raise unauthenticated("unknown_principal") from None
        # PRACTITIONER_INACTIVE and IDENTITY_MISMATCH propagate: 403 with their codes.
        jti = claims.get("jti")
        return Caller(
            viewer=viewer,
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            token_id=jti if isinstance(jti, str) else None,
        )

    def _resolve(self, claimed: Viewer) -> Viewer:
        if self.directory_ttl <= 0:
            return self.care_record.resolve_actor(claimed)
        now = time.monotonic()
        with self._lock:
            known = self._resolved.get(claimed)
        if known is not None and now - known[0] < self.directory_ttl:
            return known[1]
        viewer = self.care_record.resolve_actor(claimed)  # refusals are never remembered
        with self._lock:
            if len(self._resolved) > VERIFIED_CACHE_SIZE:
                self._resolved.clear()
            self._resolved[claimed] = (now, viewer)
        return viewer


def _claims_bytes(claims: dict[str, Any]) -> int:
    """An estimate of a verified token's claims in memory (about twice their JSON)."""
    return 400 + 2 * len(orjson.dumps(claims, default=str))


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise unauthenticated("missing")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("malformed")
    return token.strip()


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
