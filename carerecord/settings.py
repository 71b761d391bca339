"""Configuration from environment variables (documented in README.md).

Nothing here is read at import time; ``Settings.from_env()`` is called by entry
points (CLI, app factory, workers) and the result is passed down explicitly.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from psycopg.conninfo import conninfo_to_dict

Dialect = Literal["sqlite", "postgres"]

KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}
"""TCP settings of every connection: a peer that vanishes (host down, network cut) is
noticed within about 25 s (keepalive probes) or 30 s of unacknowledged data, and the
blocked call fails instead of hanging. A *frozen* server (SIGSTOP) still has a live kernel
that acknowledges, so nothing here fires: such calls wait until it thaws."""


@dataclass(frozen=True)
class PostgresParams:
    host: str
    port: int
    dbname: str
    user: str
    password: str
    schema: str = "public"
    connect_timeout: int = 5
    """Seconds a new connection may take (``CARERECORD_DB_CONNECT_TIMEOUT``); also the
    longest a caller waits for a pooled connection before the store counts as unavailable."""

    def conninfo(self) -> str:
        parts = {
            "host": self.host,
            "port": str(self.port),
            "dbname": self.dbname,
            "user": self.user,
        }
        if self.password:
            parts["password"] = self.password
        parts.update(self.session_options())
        return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())

    def session_options(self) -> dict[str, str]:
        """Connection options that bound how long a call can hang on a lost server."""
        return {"connect_timeout": str(self.connect_timeout), **KEEPALIVES}


def _connect_timeout(env: Mapping[str, str]) -> int:
    raw = env.get("CARERECORD_DB_CONNECT_TIMEOUT", "").strip() or "5"
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("CARERECORD_DB_CONNECT_TIMEOUT must be whole seconds") from None
    if not 1 <= value <= 300:
        raise ValueError("CARERECORD_DB_CONNECT_TIMEOUT must be between 1 and 300")
    return value


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Settings:
    """Where the record lives and the secrets it needs."""

    data_dir: Path = Path("var/carerecord")
    postgres: PostgresParams | None = None
    pool_size: int = 5
    cipher_key: str | None = None
    identifier_key: bytes | None = None
    partnership: str = "north-shire"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def dialect(self) -> Dialect:
        return "sqlite" if self.postgres is None else "postgres"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("CARERECORD_DATABASE_URL", "").strip()
        postgres = None
        if url:
            if not url.startswith(("postgresql://", "postgres://")):
                raise ValueError("CARERECORD_DATABASE_URL must be a postgresql:// URL")
            params = conninfo_to_dict(url)
            postgres = PostgresParams(
                host=str(params.get("host") or "127.0.0.1"),
                port=int(params.get("port") or 5432),
                dbname=str(params.get("dbname") or "carerecord"),
                user=str(params.get("user") or "postgres"),
                password=str(params.get("password") or ""),
                schema=env.get("CARERECORD_POSTGRES_SCHEMA", "public") or "public",
                connect_timeout=_connect_timeout(env),
            )
        key = env.get("CARERECORD_IDENTIFIER_KEY")
        return cls(
            data_dir=Path(env.get("CARERECORD_DATA_DIR", "var/carerecord")),
            postgres=postgres,
            pool_size=int(env.get("CARERECORD_POOL_SIZE", "5")),
            cipher_key=env.get("CARERECORD_CIPHER_KEY") or None,
            identifier_key=base64.b64decode(key) if key else None,
            partnership=env.get("CARERECORD_PARTNERSHIP", "north-shire"),
        )

    def with_postgres_schema(self, schema: str) -> Settings:
        if self.postgres is None:
            raise ValueError("not a PostgreSQL configuration")
        return replace(self, postgres=replace(self.postgres, schema=schema))

    def sqlite_path(self, area: str) -> Path:
        """The SQLite file for one storage area: ``events``, ``views`` or ``access``."""
        return self.data_dir / f"{area}.sqlite3"

    def resolved_identifier_key(self) -> bytes:
        """The identifier-index key; generated once into the data directory if not configured.

        Production deployments set ``CARERECORD_IDENTIFIER_KEY``: losing or changing
        the key makes existing identifiers unfindable.
        """
        if self.identifier_key is not None:
            return self.identifier_key
        path = self.data_dir / "identifier.key"
        if path.exists():
            return base64.b64decode(path.read_text().strip())
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(base64.b64encode(key).decode())
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic: another process may have won the race
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return base64.b64decode(path.read_text().strip())
