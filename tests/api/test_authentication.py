"""Bearer tokens: only a valid, current token for a known, active caller gets anything.

Every bad token gets 401 (or 403 for a known but inactive or mismatched caller)
with a code and no data, before any GraphQL runs - including the ones that would
only read the caller's own identity.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from api_stack import AUDIENCE, ISSUER, Stack, signing_keys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from world import GP, LEAVER, NURSE, SECRET, Person, register_client, wait_until

from carerecord.practitioner import Practitioner
from carerecord.vocab import ViewerKind

ME = "query { me { kind practitionerId profession roles agency { code sector } } }"
CLIENT_QUERY = "query($id: ID!) { findClient(nhsNumber: $id) { clientId givenName } }"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": GP.practitioner_id,
        "kind": "practitioner",
        "agency": GP.agency_id,
        "profession": GP.profession,
        "roles": ["practitioner"],
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    stack: Stack, payload: dict[str, Any], *, algorithm: str = "EdDSA", key: Any = None
) -> str:
    if key is None:
        assert stack.api_settings.private_key_path is not None
        key = load_pem_private_key(stack.api_settings.private_key_path.read_bytes(), None)
    return jwt.encode(payload, key, algorithm=algorithm)


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("data") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert SECRET not in response.text
    assert "Example" not in response.text  # no client's name leaks in any refusal


def test_a_valid_practitioner_token_identifies_the_caller_from_the_directory(stack: Stack) -> None:
    response = stack.post(ME, stack.token(GP))
    assert response.status_code == 200, response.text
    me = response.json()["data"]["me"]
    assert me == {
        "kind": "PRACTITIONER",
        "practitionerId": GP.practitioner_id,
        "profession": "gp",
        "roles": ["PRACTITIONER"],
        "agency": {"code": "gp-north", "sector": "HEALTH"},
    }


def test_roles_come_from_the_directory_not_from_the_token(stack: Stack) -> None:
    token = sign(stack, claims(roles=["practitioner", "auditor", "information_governance_officer"]))
    response = stack.post(ME, token)
    assert response.status_code == 200
    assert response.json()["data"]["me"]["roles"] == ["PRACTITIONER"]


def _bad_tokens(stack: Stack, tmp_path: Any) -> dict[str, tuple[str | None, str]]:
    other_private, _ = signing_keys(tmp_path / "other")
    other_key = load_pem_private_key(other_private.read_bytes(), None)
    now = int(time.time())
    unsigned = jwt.encode(claims(), key=None, algorithm="none")
    hs256 = jwt.encode(claims(), "a-shared-secret-that-is-long-enough-for-hmac", algorithm="HS256")
    good = sign(stack, claims())
    header, payload, signature = good.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b"dr-north", b"dr-south")
    ).decode()
    return {
        "missing": (None, "missing"),
        "empty bearer": ("", "malformed"),
        "not a jwt": ("not-a-token", "malformed"),
        "garbage segments": ("a.b.c", "malformed"),
        "alg none": (unsigned, "algorithm_not_allowed"),
        "alg HS256": (hs256, "algorithm_not_allowed"),
        "wrong key": (sign(stack, claims(), key=other_key), "invalid"),
        "tampered payload": (f"{header}.{tampered_payload}.{signature}", "invalid"),
        "expired": (sign(stack, claims(iat=now - 7200, exp=now - 3600)), "expired"),
        "not yet valid": (sign(stack, claims(nbf=now + 3600, exp=now + 7200)), "not_yet_valid"),
        "wrong issuer": (sign(stack, claims(iss="https://evil.test")), "wrong_issuer_or_audience"),
        "wrong audience": (sign(stack, claims(aud="another-api")), "wrong_issuer_or_audience"),
        "no expiry": (sign(stack, claims(exp=None)), "missing_claim"),
        "no issue time": (sign(stack, claims(iat=None)), "missing_claim"),
        "no subject": (sign(stack, claims(sub=None)), "missing_claim"),
        "no issuer": (sign(stack, claims(iss=None)), "missing_claim"),
        "no audience": (sign(stack, claims(aud=None)), "missing_claim"),
        "no kind": (sign(stack, claims(kind=None)), "missing_claim"),
        "no profession": (sign(stack, claims(profession=None)), "missing_claim"),
        "no roles": (sign(stack, claims(roles=None)), "missing_claim"),
        "no agency": (sign(stack, claims(agency=None)), "invalid_claim"),
        "unknown kind": (sign(stack, claims(kind="superuser")), "invalid_claim"),
        "lifetime too long": (sign(stack, claims(exp=now + 48 * 3600)), "lifetime_too_long"),
        "unknown practitioner": (sign(stack, claims(sub="dr-nobody")), "unknown_principal"),
        "unknown agency system": (
            sign(stack, claims(kind="agency_system", sub="no-such-agency", agency=None)),
            "unknown_principal",
        ),
    }


BAD_TOKENS = [
    "missing",
    "empty bearer",
    "not a jwt",
    "garbage segments",
    "alg none",
    "alg HS256",
    "wrong key",
    "tampered payload",
    "expired",
    "not yet valid",
    "wrong issuer",
    "wrong audience",
    "no expiry",
    "no issue time",
    "no subject",
    "no issuer",
    "no audience",
    "no kind",
    "no profession",
    "no roles",
    "no agency",
    "unknown kind",
    "lifetime too long",
    "unknown practitioner",
    "unknown agency system",
]


@pytest.mark.parametrize("case", BAD_TOKENS)
def test_a_bad_token_is_refused_with_401_and_no_data(
    stack: Stack, tmp_path: Any, case: str
) -> None:
    client = register_client(stack.app, GP)
    token, reason = _bad_tokens(stack, tmp_path)[case]
    before = stack.access_count()
    headers = {} if token is None else {"Authorization": f"Bearer {token}".strip()}
    response = httpx.post(
        f"{stack.server.url}/graphql",
        json={"query": CLIENT_QUERY, "variables": {"id": client.nhs_number}},
        headers=headers,
    )
    assert_refused(response, 401, "UNAUTHENTICATED")
    assert response.json()["errors"][0]["extensions"]["fields"]["reason"] == reason
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.client_id not in response.text
    assert stack.access_count() == before  # nothing was read, so nothing was audited


def test_a_token_for_a_practitioner_who_has_left_is_refused_403(stack: Stack) -> None:
    assert_refused(stack.post(ME, stack.token(LEAVER)), 403, "PRACTITIONER_INACTIVE")


def test_a_token_claiming_another_agency_or_profession_is_refused_403(stack: Stack) -> None:
    wrong_agency = sign(stack, claims(agency="gp-south"))
    wrong_profession = sign(stack, claims(profession="psychiatrist"))
    assert_refused(stack.post(ME, wrong_agency), 403, "IDENTITY_MISMATCH")
    assert_refused(stack.post(ME, wrong_profession), 403, "IDENTITY_MISMATCH")


def test_identity_in_the_body_is_ignored(stack: Stack) -> None:
    """A body or variables naming another practitioner change nothing: the token decides."""
    response = httpx.post(
        f"{stack.server.url}/graphql",
        json={
            "query": ME,
            "variables": {"practitionerId": NURSE.practitioner_id},
            "extensions": {"viewer": {"practitioner_id": NURSE.practitioner_id}},
            "practitioner_id": NURSE.practitioner_id,
        },
        headers={"Authorization": f"Bearer {stack.token(GP)}", "X-Practitioner": "nurse-ann"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["me"]["practitionerId"] == GP.practitioner_id


def test_client_credentials_identify_an_agency_system(stack: Stack) -> None:
    response = stack.post(
        "query { me { kind practitionerId agency { code } } }", stack.agency_token("police")
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["me"] == {
        "kind": "AGENCY_SYSTEM",
        "practitionerId": None,
        "agency": {"code": "police"},
    }


def test_an_agency_system_cannot_act_as_a_practitioner(stack: Stack) -> None:
    client = register_client(stack.app, GP)
    response = stack.post(
        """mutation($c: ID!) { startCareRelationship(clientId: $c, reason: "Allocated") {
             __typename ... on Refused { code } } }""",
        stack.agency_token("police"),
        c=client.client_id,
    )
    assert response.json()["data"]["startCareRelationship"] == {
        "__typename": "Refused",
        "code": "NOT_PERMITTED",
    }


def test_a_token_issued_by_the_token_command_is_accepted(stack: Stack) -> None:
    token = stack.issuer.for_practitioner(
        stack.app, NURSE.practitioner_id, ttl=timedelta(minutes=5)
    )
    response = stack.post(ME, token)
    assert response.json()["data"]["me"]["practitionerId"] == NURSE.practitioner_id
    agency = stack.issuer.issue(kind=ViewerKind.AGENCY_SYSTEM, subject="housing")
    assert stack.post(ME, agency).json()["data"]["me"]["kind"] == "AGENCY_SYSTEM"


def test_a_practitioner_who_leaves_is_refused_within_the_directory_cache_time(stack: Stack) -> None:
    leaver_id = f"temp-{uuid.uuid4().hex[:8]}"
    stack.app.enrol_practitioner(
        practitioner_id=leaver_id,
        agency_id="community-health",
        profession="district_nurse",
        name="Temp Nurse",
    )
    person = Person(leaver_id, "community-health", "district_nurse")
    token = stack.token(person)
    assert stack.post(ME, token).status_code == 200
    practitioner = stack.app.repository.get(Practitioner.id_for(leaver_id))
    practitioner.leave_service(reason="Left", by="system", at=datetime.now(UTC))
    stack.app.save(practitioner)
    left_at = time.monotonic()
    wait_until(
        lambda: stack.post(ME, token).status_code == 403,
        timeout=stack.api_settings.directory_cache_seconds + 10,
        what="the leaver to be refused",
    )
    assert time.monotonic() - left_at <= stack.api_settings.directory_cache_seconds + 5
    assert_refused(stack.post(ME, token), 403, "PRACTITIONER_INACTIVE")
