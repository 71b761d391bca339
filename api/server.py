"""Running the API under uvicorn, and preparing the demo (``carerecord serve --demo``)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from api.app import create_app
from api.governance_runtime import start_governance
from api.services import Services
from api.settings import ApiSettings
from carerecord.memory import MemoryTrimmer
from carerecord.migrate import migrate
from carerecord.runtime import open_care_record
from carerecord.settings import Settings

DEMO_CALLERS = (  # (what they are, the demo directory's key)
    ("a district nurse", "district_nurse"),
    ("a social worker", "social_worker"),
    ("a police officer (street triage)", "police_officer"),
    ("a mental-health practitioner (street triage)", "mh_practitioner"),
    ("a GP at Northgate Surgery", "gp_northgate"),
    ("a GP at Riverside Medical Practice", "gp_riverside"),
    ("an information-governance officer", "ig_community"),
    ("a partnership auditor (access audit, reconstruction)", "partnership_auditor"),
)


def prepare_demo(
    settings: Settings, api: ApiSettings, *, clients: int, seed: int, host: str, port: int
) -> str:
    """Migrate the embedded store, load the demo dataset if it is empty, return the guide."""
    from carerecord.demo import load_demo

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings)
    api.resolved(settings.data_dir)  # generates the dev keys before the first token command
    app = open_care_record(settings)
    try:
        if int(app.recorder.max_notification_id() or 0) == 0:
            print(f"Loading the demo dataset ({clients} clients)...", file=sys.stderr)
            load_demo(app, seed=seed, clients=clients, progress=_progress)
    finally:
        app.close()
    return guide(settings, host=host, port=port, practitioners=demo_practitioners())


def _progress(done: int, total: int) -> None:
    if total and (done == total or done % max(1, total // 10) == 0):
        print(f"  {done}/{total}", file=sys.stderr)


def demo_practitioners() -> list[tuple[str, str]]:
    """(description, practitioner id) for a few of the demo's callers."""
    from carerecord.demo import DIRECTORY

    return [
        (label, DIRECTORY[key].practitioner_id) for label, key in DEMO_CALLERS if key in DIRECTORY
    ]


def guide(settings: Settings, *, host: str, port: int, practitioners: list[tuple[str, str]]) -> str:
    base = f"http://{host}:{port}"
    carerecord = shlex.quote(sys.argv[0]) if sys.argv and sys.argv[0] else "carerecord"
    data_dir = settings.data_dir.resolve()
    lines = [
        "",
        f"The shared care record is running (dev mode, demo data, embedded SQLite in {data_dir}).",
        "",
        f"  GraphQL:   POST {base}/graphql   (GraphiQL: open {base}/graphql in a browser)",
        f"  Feed:      GET  {base}/feed      (OpenAPI: {base}/docs)",
        f"  Health:    {base}/healthz  {base}/readyz  {base}/metrics",
        "",
        "Get a token (valid 60 minutes) for one of the demo practitioners - run these in "
        f"{Path.cwd()} (or set CARERECORD_DATA_DIR={data_dir}):",
    ]
    for label, practitioner_id in practitioners:
        lines.append(f"  {carerecord} token --dev --practitioner {practitioner_id}   # {label}")
    lines += [
        f"  {carerecord} token --dev --agency <agency-code>   # an agency system (the feed)",
        "",
        "Then, for example:",
        f"  TOKEN=$({carerecord} token --dev --practitioner "
        f"{practitioners[0][1] if practitioners else '<practitioner-id>'})",
        f'  curl -s {base}/graphql -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' \\",
        '    -d \'{"query": "{ me { name profession } caseload(first: 5) '
        "{ items { client { clientId givenName familyName } } } }\"}'",
        "",
        "In GraphiQL (no internet needed), put the token in the Headers tab in place of "
        "PASTE-YOUR-TOKEN-HERE. See docs/graphql.md for worked examples.",
        "",
    ]
    return "\n".join(lines)


def run_server(
    settings: Settings,
    api: ApiSettings,
    *,
    host: str,
    port: int,
    guide: str | None = None,
    on_start: Callable[[Services], Any] | None = None,
) -> None:
    """Serve the app with uvicorn until interrupted."""

    def started(services: Services) -> Any:
        if guide is not None:
            print(guide, flush=True)
        also = None if on_start is None else on_start(services)
        return start_governance(services, also=also)  # audit index, checkpoint timer

    app = create_app(settings, api, on_start=started)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        ws="websockets-sansio",
        ws_max_size=api.limits.max_body_bytes,
        server_header=False,
        log_level="info",
    )
    trimmer = MemoryTrimmer().start()  # gives freed memory back to the system once a minute
    try:
        uvicorn.Server(config).run()
    finally:
        trimmer.stop()
