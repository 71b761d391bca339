"""`carerecord serve --demo` and `carerecord token`: the README's "run it" path, as a user runs it.

The demo is embedded SQLite by design, so this runs once (not per backend).
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_stack import AUDIENCE, ISSUER, signing_keys
from world import wait_until

CLI = [str(Path(sys.executable).parent / "carerecord")]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARERECORD_")}
    env["CARERECORD_DATA_DIR"] = str(data_dir)
    return env


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_token_refuses_outside_dev_mode_without_a_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "token", "--practitioner", "dn-sarah-jones"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "identity provider" in result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    env = _env(data_dir)
    port = _port()
    server = subprocess.Popen(
        [*CLI, "serve", "--demo", "--clients", "4", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if server.poll() is not None:
            raise AssertionError(
                f"the demo server exited: {server.stdout.read() if server.stdout else ''}"
            )
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=300, what="the demo server")
        yield url, env
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_demo_serves_the_demo_data_to_a_token_from_the_token_command(
    demo: tuple[str, dict[str, str]],
) -> None:
    url, env = demo
    token = subprocess.run(
        [*CLI, "token", "--dev", "--practitioner", "dn-sarah-jones", "--ttl", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    response = httpx.post(
        f"{url}/graphql",
        json={
            "query": "{ me { name profession } "
            "caseload(first: 50) { items { client { familyName } } } }"
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["me"] == {"name": "Sarah Jones", "profession": "district_nurse"}
    assert "Clarke" in {i["client"]["familyName"] for i in data["caseload"]["items"]}
    page = httpx.get(f"{url}/graphql", headers={"Accept": "text/html"})
    assert "graphiql" in page.text.lower()


def test_agency_credentials_from_the_token_command_read_the_feed(
    demo: tuple[str, dict[str, str]],
) -> None:
    url, env = demo
    token = subprocess.run(
        [*CLI, "token", "--dev", "--agency", "community-health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    response = httpx.get(
        f"{url}/feed", params={"limit": 5}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"]


def test_serve_in_production_refuses_to_start_without_a_checkpoint_key(tmp_path: Path) -> None:
    _, public = signing_keys(tmp_path / "keys")
    env = {
        **_env(tmp_path / "data"),
        "CARERECORD_JWT_ISSUER": ISSUER,
        "CARERECORD_JWT_AUDIENCE": AUDIENCE,
        "CARERECORD_JWT_ALGORITHMS": "EdDSA",
        "CARERECORD_JWT_PUBLIC_KEY": str(public),
        "CARERECORD_CURSOR_KEY": base64.b64encode(b"c" * 32).decode(),
    }
    result = subprocess.run(
        [*CLI, "serve", "--port", str(_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "CARERECORD_CHECKPOINT_KEY" in result.stdout + result.stderr
    assert not (tmp_path / "data" / "checkpoint-key.pem").exists()


def _production_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    private, public = signing_keys(tmp_path / "keys")
    env = {
        **_env(tmp_path / "data"),
        "CARERECORD_JWT_ISSUER": ISSUER,
        "CARERECORD_JWT_AUDIENCE": AUDIENCE,
        "CARERECORD_JWT_ALGORITHMS": "EdDSA",
        "CARERECORD_JWT_PUBLIC_KEY": str(public),
        "CARERECORD_JWT_PRIVATE_KEY": str(private),
        "CARERECORD_CURSOR_KEY": base64.b64encode(b"c" * 32).decode(),
        "CARERECORD_CHECKPOINT_EVERY_SECONDS": "0",
    }
    env.update(changes)
    return env


@pytest.mark.parametrize(
    ("changes", "variable", "code"),
    [
        ({"CARERECORD_JWT_PUBLIC_KEY": "/nowhere/idp.pub.pem"}, "PUBLIC_KEY", "UNREADABLE"),
        ({"CARERECORD_JWT_PUBLIC_KEY": "/"}, "PUBLIC_KEY", "UNREADABLE"),
        ({"CARERECORD_JWT_PUBLIC_KEY": "/etc/hostname"}, "PUBLIC_KEY", "INVALID"),
        ({"CARERECORD_JWT_PRIVATE_KEY": "/nowhere/signing.pem"}, "PRIVATE_KEY", "UNREADABLE"),
        (
            {"CARERECORD_CHECKPOINT_EVERY_SECONDS": "", "CARERECORD_CHECKPOINT_KEY": "/nowhere"},
            "CARERECORD_CHECKPOINT_KEY",
            "UNREADABLE",
        ),
        (
            {
                "CARERECORD_CHECKPOINT_EVERY_SECONDS": "",
                "CARERECORD_CHECKPOINT_KEY": "/etc/hostname",
            },
            "CARERECORD_CHECKPOINT_KEY",
            "",
        ),
    ],
    ids=[
        "public key missing",
        "public key a directory",
        "public key not PEM",
        "private key missing",
        "checkpoint key missing",
        "checkpoint key not PEM",
    ],
)
def test_serve_exits_2_with_a_coded_message_when_a_key_file_cannot_be_used(
    tmp_path: Path, changes: dict[str, str], variable: str, code: str
) -> None:
    env = {k: v for k, v in _production_env(tmp_path, **changes).items() if v}
    result = subprocess.run(
        [*CLI, "serve", "--port", str(_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert variable in output
    assert f"KEY_FILE_{code}" in output


def test_token_exits_2_with_a_coded_message_when_the_private_key_is_missing(
    tmp_path: Path,
) -> None:
    env = _production_env(tmp_path, CARERECORD_JWT_PRIVATE_KEY=str(tmp_path / "gone.pem"))
    result = subprocess.run(
        [*CLI, "token", "--client", "3e1a6b51-2d70-4aa6-aa41-08c59dd6f00f"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "KEY_FILE_UNREADABLE" in result.stderr
    assert result.stdout == ""
