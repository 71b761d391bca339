"""The API server's configuration, read from environment variables (documented in README.md).

Nothing is read at import time: entry points call ``ApiSettings.from_env()`` and pass
the result to ``api.app.create_app``. Production (the default) refuses to start
without configured token keys, issuer, audience, pinned algorithms and a cursor
key; dev mode (``CARERECORD_ENV=dev``) fills them in with a local key pair and keys
generated into the data directory, and turns on GraphiQL and introspection.
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

Environment = Literal["dev", "production"]

ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
)
"""Asymmetric algorithms only: a shared HMAC secret would let every verifier mint tokens."""

DEV_ISSUER = "carerecord-dev"
DEV_AUDIENCE = "carerecord-api"


class ConfigurationError(ValueError):
    """The API configuration is incomplete or unsafe; the message names the variable.

    ``code`` is stable (``INVALID_CONFIGURATION``, or ``KEY_FILE_UNREADABLE`` /
    ``KEY_FILE_INVALID`` for a key file that cannot be read or is not a usable key);
    entry points print it and exit with status 2.
    """

    def __init__(self, message: str, *, code: str = "INVALID_CONFIGURATION") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """Request limits, enforced before any GraphQL execution."""

    max_body_bytes: int = 256 * 1024
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2_000
    default_page_size: int = 20
    max_page_size: int = 100
    max_subscriptions_per_socket: int = 5
    connection_init_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ApiSettings:
    """How the API authenticates callers, what it allows, and where it listens."""

    environment: Environment = "production"
    issuer: str | None = None
    audience: str | None = None
    algorithms: tuple[str, ...] = ()
    public_key_path: Path | None = None
    jwks_url: str | None = None
    private_key_path: Path | None = None
    leeway_seconds: int = 30
    directory_cache_seconds: float = 5.0
    max_token_lifetime_seconds: int = 12 * 3600
    cursor_key: bytes | None = None
    allowed_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    ready_max_lag: int = 1_000
    ready_heartbeat_seconds: float = 15.0
    ready_timeout_seconds: float = 1.0
    in_process_projections: bool = False
    subscription_poll_seconds: float = 0.5
    audit_timeout_seconds: float = 10.0

    @property
    def dev(self) -> bool:
        return self.environment == "dev"

    @property
    def graphiql(self) -> bool:
        """GraphiQL and introspection: dev mode only."""
        return self.dev

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ApiSettings:
        env = os.environ if environ is None else environ
        mode = env.get("CARERECORD_ENV", "production").strip().lower() or "production"
        if mode not in ("dev", "production"):
            raise ConfigurationError("CARERECORD_ENV must be 'dev' or 'production'")
        limits = Limits(
            max_body_bytes=_int(env, "CARERECORD_MAX_BODY_BYTES", Limits.max_body_bytes, 1024),
            max_depth=_int(env, "CARERECORD_MAX_QUERY_DEPTH", Limits.max_depth, 2),
            max_aliases=_int(env, "CARERECORD_MAX_ALIASES", Limits.max_aliases, 0),
            max_tokens=_int(env, "CARERECORD_MAX_QUERY_TOKENS", Limits.max_tokens, 50),
            default_page_size=_int(
                env, "CARERECORD_DEFAULT_PAGE_SIZE", Limits.default_page_size, 1
            ),
            max_page_size=_int(env, "CARERECORD_MAX_PAGE_SIZE", Limits.max_page_size, 1),
            max_subscriptions_per_socket=_int(env, "CARERECORD_MAX_SUBSCRIPTIONS_PER_SOCKET", 5, 1),
        )
        if limits.default_page_size > limits.max_page_size:
            raise ConfigurationError(
                "CARERECORD_DEFAULT_PAGE_SIZE must not exceed CARERECORD_MAX_PAGE_SIZE"
            )
        algorithms = tuple(
            a.strip() for a in env.get("CARERECORD_JWT_ALGORITHMS", "").split(",") if a.strip()
        )
        cursor = env.get("CARERECORD_CURSOR_KEY", "").strip()
        settings = cls(
            environment="dev" if mode == "dev" else "production",
            issuer=env.get("CARERECORD_JWT_ISSUER", "").strip() or None,
            audience=env.get("CARERECORD_JWT_AUDIENCE", "").strip() or None,
            algorithms=algorithms,
            public_key_path=_path(env, "CARERECORD_JWT_PUBLIC_KEY"),
            jwks_url=env.get("CARERECORD_JWT_JWKS_URL", "").strip() or None,
            private_key_path=_path(env, "CARERECORD_JWT_PRIVATE_KEY"),
            leeway_seconds=_int(env, "CARERECORD_JWT_LEEWAY_SECONDS", 30, 0),
            directory_cache_seconds=_int(env, "CARERECORD_DIRECTORY_CACHE_SECONDS", 5, 0),
            max_token_lifetime_seconds=_int(
                env, "CARERECORD_JWT_MAX_LIFETIME_SECONDS", 12 * 3600, 60
            ),
            cursor_key=_key(cursor, "CARERECORD_CURSOR_KEY") if cursor else None,
            allowed_origins=tuple(
                o.strip() for o in env.get("CARERECORD_ALLOWED_ORIGINS", "").split(",") if o.strip()
            ),
            limits=limits,
            ready_max_lag=_int(env, "CARERECORD_READY_MAX_LAG", 1_000, 0),
            ready_heartbeat_seconds=_float(env, "CARERECORD_READY_HEARTBEAT_SECONDS", 15.0, 1.0),
            ready_timeout_seconds=_float(env, "CARERECORD_READY_TIMEOUT_SECONDS", 1.0, 0.1),
            in_process_projections=env.get("CARERECORD_IN_PROCESS_PROJECTIONS", "").lower()
            in ("1", "true", "yes"),
        )
        return settings

    def resolved(self, data_dir: Path) -> ApiSettings:
        """Complete and check the settings: dev defaults filled in, production requirements met.

        Dev mode generates (once) a local signing key pair and a cursor key into
        ``data_dir``; production must configure them. Called at start-up (it may do I/O).
        """
        settings = self
        if self.dev:
            from api.keys import dev_cursor_key, dev_key_pair

            if settings.public_key_path is None and settings.jwks_url is None:
                private, public = dev_key_pair(data_dir)
                settings = replace(
                    settings,
                    public_key_path=public,
                    private_key_path=settings.private_key_path or private,
                    algorithms=settings.algorithms or ("EdDSA",),
                )
            settings = replace(
                settings,
                issuer=settings.issuer or DEV_ISSUER,
                audience=settings.audience or DEV_AUDIENCE,
                cursor_key=settings.cursor_key or dev_cursor_key(data_dir),
            )
        settings.check()
        settings.check_key_files()
        return settings

    def check_key_files(self) -> None:
        """Read and parse the configured key files now, so a missing, unreadable or wrong
        file stops start-up with a ``ConfigurationError`` (not a traceback later)."""
        from api.keys import load_private_key, load_public_key

        if self.public_key_path is not None:
            load_public_key(self.public_key_path, variable="CARERECORD_JWT_PUBLIC_KEY")
        if self.private_key_path is not None:
            load_private_key(self.private_key_path, variable="CARERECORD_JWT_PRIVATE_KEY")

    def check(self) -> None:
        """Refuse incomplete or unsafe configurations (production and dev alike)."""
        if not self.issuer:
            raise ConfigurationError("CARERECORD_JWT_ISSUER is required")
        if not self.audience:
            raise ConfigurationError("CARERECORD_JWT_AUDIENCE is required")
        if not self.algorithms:
            raise ConfigurationError("CARERECORD_JWT_ALGORITHMS is required (e.g. RS256)")
        unsafe = [a for a in self.algorithms if a not in ALLOWED_ALGORITHMS]
        if unsafe:
            raise ConfigurationError(
                "CARERECORD_JWT_ALGORITHMS may only name asymmetric algorithms: "
                + ", ".join(sorted(ALLOWED_ALGORITHMS))
            )
        if (self.public_key_path is None) == (self.jwks_url is None):
            raise ConfigurationError(
                "set exactly one of CARERECORD_JWT_PUBLIC_KEY (a PEM file) "
                "and CARERECORD_JWT_JWKS_URL"
            )
        if self.jwks_url is not None and not self.jwks_url.startswith("https://") and not self.dev:
            raise ConfigurationError("CARERECORD_JWT_JWKS_URL must be an https:// URL")
        if self.cursor_key is None:
            raise ConfigurationError(
                "CARERECORD_CURSOR_KEY is required (base64 of 32 random bytes)"
            )
        if "*" in self.allowed_origins and not self.dev:
            raise ConfigurationError("CARERECORD_ALLOWED_ORIGINS must list origins, not '*'")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number") from None
    if not (math.isfinite(value) and value >= minimum):
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else None


def _key(encoded: str, name: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{name} is not valid base64") from None
    if len(key) != 32:
        raise ConfigurationError(f"{name} must be 32 bytes (base64-encoded)")
    return key


def new_cursor_key() -> str:
    """A fresh cursor key, base64-encoded (for operators: ``CARERECORD_CURSOR_KEY``)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()
