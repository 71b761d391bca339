"""Keys from an identity provider's JWKS endpoint (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import TokenVerifier
from api.errors import ApiError
from api.settings import ApiSettings, ConfigurationError

ISSUER, AUDIENCE = "https://idp.test", "carerecord-api"


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "key-1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    finally:
        server.shutdown()
        thread.join(5)


def _token(key: Any, kid: str = "key-1", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "dr-north", "iat": now, "exp": now + 300}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def _settings(url: str, tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        environment="dev",
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=("RS256",),
        jwks_url=url,
        cursor_key=b"k" * 32,
    ).resolved(tmp_path)


def test_tokens_are_verified_with_the_providers_published_keys(
    idp: tuple[str, Any], tmp_path: Path
) -> None:
    url, key = idp
    verifier = TokenVerifier(_settings(url, tmp_path))
    assert verifier.verify(_token(key))["sub"] == "dr-north"


def test_a_token_signed_with_an_unpublished_key_is_refused(
    idp: tuple[str, Any], tmp_path: Path
) -> None:
    url, _ = idp
    verifier = TokenVerifier(_settings(url, tmp_path))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (_token(stranger), _token(stranger, kid="key-2")):
        with pytest.raises(ApiError) as refused:
            verifier.verify(token)
        assert refused.value.code == "UNAUTHENTICATED"
        assert refused.value.fields["reason"] in ("invalid", "unknown_key")


def test_production_needs_an_https_jwks_url(idp: tuple[str, Any], tmp_path: Path) -> None:
    url, _ = idp
    production = replace(_settings(url, tmp_path), environment="production")
    with pytest.raises(ConfigurationError, match="https"):
        production.check()
