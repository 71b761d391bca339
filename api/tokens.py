"""Issuing tokens locally: the dev mode's ``carerecord token`` (and deployments that hold a key).

In production an identity provider issues tokens; this exists so a fresh checkout
can be used at once, and so operators holding the private key can mint a token for
an agency system's client credentials.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from api.keys import load_private_key
from api.settings import ApiSettings
from carerecord.application import CareRecord
from carerecord.ids import parse_client_id
from carerecord.vocab import ViewerKind


class TokenIssuer:
    """Signs tokens with the configured private key (dev key pair in dev mode)."""

    def __init__(self, settings: ApiSettings, *, private_key_path: Path | None = None) -> None:
        path = private_key_path or settings.private_key_path
        if path is None:
            raise ValueError(
                "no private key: tokens are issued by your identity provider "
                "(or set CARERECORD_JWT_PRIVATE_KEY)"
            )
        if settings.issuer is None or settings.audience is None or not settings.algorithms:
            raise ValueError("issuer, audience and algorithms must be configured")
        self._key = load_private_key(path, variable="CARERECORD_JWT_PRIVATE_KEY")
        self.issuer = settings.issuer
        self.audience = settings.audience
        self.algorithm = settings.algorithms[0]
        self.max_ttl = timedelta(seconds=settings.max_token_lifetime_seconds)

    def issue(
        self,
        *,
        kind: ViewerKind,
        subject: str,
        ttl: timedelta = timedelta(hours=1),
        now: datetime | None = None,
        **claims: Any,
    ) -> str:
        if ttl > self.max_ttl or ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive and at most {self.max_ttl}")
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "kind": kind.value,
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
            "jti": secrets.token_hex(8),
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm=self.algorithm)

    def for_practitioner(
        self, care_record: CareRecord, practitioner_id: str, *, ttl: timedelta
    ) -> str:
        """A practitioner's token with the claims the directory holds for them."""
        practitioner = care_record.practitioner(practitioner_id)
        return self.issue(
            kind=ViewerKind.PRACTITIONER,
            subject=practitioner.practitioner_id,
            ttl=ttl,
            agency=practitioner.agency_id,
            profession=practitioner.profession,
            roles=sorted(practitioner.roles),
            name=practitioner.name,
        )

    def for_agency(self, care_record: CareRecord, agency_code: str, *, ttl: timedelta) -> str:
        """Client credentials for an agency's own system (subject: the agency)."""
        agency = care_record.agency(agency_code)
        return self.issue(kind=ViewerKind.AGENCY_SYSTEM, subject=agency.code, ttl=ttl)

    def for_client(self, client_id: str, *, ttl: timedelta) -> str:
        """A subject-access token for the person themselves."""
        return self.issue(kind=ViewerKind.CLIENT, subject=str(parse_client_id(client_id)), ttl=ttl)
