"""Configuration: production refuses to start unless authentication is fully and safely set."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from api_stack import signing_keys

from api.settings import ApiSettings, ConfigurationError

KEY = base64.b64encode(b"c" * 32).decode()


def production(tmp_path: Path, **env: str) -> dict[str, str]:
    _, public = signing_keys(tmp_path / "idp")
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


def _key_files(tmp_path: Path) -> dict[str, Path]:
    private, public = signing_keys(tmp_path / "good")
    not_pem = tmp_path / "not-a-key.pem"
    not_pem.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n")
    return {
        "missing": tmp_path / "nowhere" / "key.pem",
        "a directory": tmp_path,
        "not a key": not_pem,
        "the other half": private,
        "public": public,
        "private": private,
    }


@pytest.mark.parametrize(
    ("variable", "which", "code"),
    [
        ("CARERECORD_JWT_PUBLIC_KEY", "missing", "KEY_FILE_UNREADABLE"),
        ("CARERECORD_JWT_PUBLIC_KEY", "a directory", "KEY_FILE_UNREADABLE"),
        ("CARERECORD_JWT_PUBLIC_KEY", "not a key", "KEY_FILE_INVALID"),
        ("CARERECORD_JWT_PUBLIC_KEY", "the other half", "KEY_FILE_INVALID"),
        ("CARERECORD_JWT_PRIVATE_KEY", "missing", "KEY_FILE_UNREADABLE"),
        ("CARERECORD_JWT_PRIVATE_KEY", "not a key", "KEY_FILE_INVALID"),
        ("CARERECORD_JWT_PRIVATE_KEY", "public", "KEY_FILE_INVALID"),
    ],
)
def test_a_key_file_that_cannot_be_used_is_a_coded_configuration_error(
    tmp_path: Path, variable: str, which: str, code: str
) -> None:
    path = _key_files(tmp_path)[which]
    with pytest.raises(ConfigurationError) as refused:
        ApiSettings.from_env(production(tmp_path, **{variable: str(path)})).resolved(tmp_path)
    assert refused.value.code == code
    assert variable in str(refused.value)


def test_configuration_errors_carry_a_code() -> None:
    with pytest.raises(ConfigurationError) as refused:
        ApiSettings.from_env({"CARERECORD_ENV": "staging"})
    assert refused.value.code == "INVALID_CONFIGURATION"
