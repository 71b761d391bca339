"""``carerecord serve`` runs the governance work in-process: checkpoints on the configured
timer, and (with the views built in-process, as in the demo) the access audit index.

The demo is embedded SQLite by design, so this runs once (not per backend).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from gov_world import wait_until

from api.server import demo_practitioners
from carerecord.audit.checkpoints import load_checkpoints
from carerecord.db import Databases
from carerecord.settings import Settings

CLI = [str(Path(sys.executable).parent / "carerecord")]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_signs_checkpoints_on_its_timer_and_builds_the_audit_index(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARERECORD_")}
    env.update(
        CARERECORD_DATA_DIR=str(data_dir),
        CARERECORD_CHECKPOINT_EVERY_SECONDS="0.5",
        CARERECORD_CHECKPOINT_CHECK_SECONDS="0.1",
    )
    port = _port()
    server = subprocess.Popen(
        [*CLI, "serve", "--demo", "--clients", "3", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=data_dir)
    dbs = Databases(settings)

    def ready() -> bool:
        assert server.poll() is None, "the server exited"
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def tracked() -> int:
        with dbs.access.snapshot() as tx:
            found = tx.scalar(
                "SELECT position FROM projection_tracking WHERE name = 'access_index'"
            )
        return 0 if found is None else int(found)

    try:
        wait_until(ready, timeout=300, what="the demo server")
        wait_until(lambda: bool(load_checkpoints(dbs, "events")), what="an event-log checkpoint")
        nurse = demo_practitioners()[0][1]
        token = subprocess.run(
            [*CLI, "token", "--dev", "--practitioner", nurse],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        response = httpx.post(
            f"{url}/graphql",
            json={"query": "{ caseload(first: 5) { items { client { clientId } } } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.json()["data"]["caseload"]["items"]
        with dbs.access.snapshot() as tx:
            head = int(tx.scalar("SELECT MAX(position) FROM access_log"))
        wait_until(
            lambda: max((c.position for c in load_checkpoints(dbs, "access")), default=0) >= head,
            what="an access-log checkpoint",
        )
        wait_until(lambda: tracked() >= head, what="the audit index")
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert 'carerecord_governance_task_failed{task="checkpoints"} 0.0' in metrics
        assert 'carerecord_governance_task_failed{task="audit_index"} 0.0' in metrics
    finally:
        server.terminate()
        server.wait(timeout=30)
        dbs.close()
