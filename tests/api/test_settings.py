"""Configuration: production refuses to start unless authentication is fully and safely set."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from api.settings import ApiSettings, ConfigurationError

KEY = base64.b64encode(b"c" * 32).decode()


def production(tmp_path: Path, **env: str) -> dict[str, str]:
    public = tmp_path / "idp.pub.pem"
    public.write_text("not used before start-up")
    base = {
        "CARERECORD_JWT_ISSUER": "https://idp.test",
        "CARERECORD_JWT_AUDIENCE": "carerecord-api",
        "CARERECORD_JWT_ALGORITHMS": "RS256",
        "CARERECORD_JWT_PUBLIC_KEY": str(public),
        "CARERECORD_CURSOR_KEY": KEY,
    }
    base.update(env)
    return {k: v for k, v in base.items() if v}


def test_a_complete_production_configuration_is_accepted(tmp_path: Path) -> None:
    settings = ApiSettings.from_env(production(tmp_path)).resolved(tmp_path)
    assert not settings.dev
    assert not settings.graphiql
    assert settings.algorithms == ("RS256",)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"CARERECORD_JWT_ISSUER": ""}, "ISSUER"),
        ({"CARERECORD_JWT_AUDIENCE": ""}, "AUDIENCE"),
        ({"CARERECORD_JWT_ALGORITHMS": ""}, "ALGORITHMS"),
        ({"CARERECORD_JWT_ALGORITHMS": "HS256"}, "asymmetric"),
        ({"CARERECORD_JWT_ALGORITHMS": "RS256,none"}, "asymmetric"),
        ({"CARERECORD_JWT_PUBLIC_KEY": ""}, "PUBLIC_KEY"),
        ({"CARERECORD_JWT_JWKS_URL": "https://idp.test/jwks"}, "exactly one"),
        ({"CARERECORD_CURSOR_KEY": ""}, "CURSOR_KEY"),
        ({"CARERECORD_CURSOR_KEY": base64.b64encode(b"short").decode()}, "32 bytes"),
        ({"CARERECORD_ALLOWED_ORIGINS": "*"}, "origins"),
        ({"CARERECORD_MAX_PAGE_SIZE": "10", "CARERECORD_DEFAULT_PAGE_SIZE": "20"}, "PAGE_SIZE"),
        ({"CARERECORD_MAX_QUERY_DEPTH": "lots"}, "integer"),
        ({"CARERECORD_ENV": "staging"}, "CARERECORD_ENV"),
    ],
)
def test_production_refuses_an_incomplete_or_unsafe_configuration(
    tmp_path: Path, change: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        ApiSettings.from_env(production(tmp_path, **change)).resolved(tmp_path)


def test_dev_mode_generates_its_keys_once_into_the_data_directory(tmp_path: Path) -> None:
    first = ApiSettings.from_env({"CARERECORD_ENV": "dev"}).resolved(tmp_path)
    second = ApiSettings.from_env({"CARERECORD_ENV": "dev"}).resolved(tmp_path)
    assert first.graphiql
    assert first.public_key_path == second.public_key_path
    assert first.cursor_key == second.cursor_key
    assert first.public_key_path is not None
    private = first.private_key_path
    assert private is not None
    assert private.stat().st_mode & 0o077 == 0, "the dev private key is readable by its owner only"
