"""GraphiQL works on a network without internet access (dev mode only).

The page and every file it loads come from the API itself, pinned by SRI hashes that the
manifest records and these tests recompute; a strict Content-Security-Policy keeps the
page to its own origin. A real headless Chromium, barred from every host but the API's,
renders the page, takes a token in the headers editor and runs a query.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from api_stack import Stack, production_settings, sqlite_store, start_stack
from graphql import build_client_schema, graphql_sync, parse, print_ast, print_schema, validate
from pg_support import REQUIRE_PG
from world import GP

from api.graphql.hardening import shape_rule
from api.graphql.ide import ASSETS_PATH, SCRIPTS, STYLES
from api.graphql.schema import build_schema
from api.settings import ApiSettings

if TYPE_CHECKING:
    from playwright.sync_api import Request

ASSET_DIR = Path(__file__).resolve().parents[2] / "api" / "static" / "graphiql"
NOT_SERVED = {"manifest.json", "README.md"}
CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("CI") == "true" or REQUIRE_PG
"""CI must run the browser test: a missing Chromium fails there instead of skipping."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    store = sqlite_store(tmp_path_factory.mktemp("graphiql") / "data")
    running = start_stack(store, ApiSettings(environment="dev"))
    try:
        yield running
    finally:
        running.server.stop()
        running.app.close()


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    store = sqlite_store(tmp_path_factory.mktemp("graphiql-prod") / "data")
    running = start_stack(store, production_settings(tmp_path_factory.mktemp("keys")))
    try:
        yield running
    finally:
        running.server.stop()
        running.app.close()


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def manifest() -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = json.loads((ASSET_DIR / "manifest.json").read_text())[
        "files"
    ]
    return files


class PageTags(HTMLParser):
    """The page's scripts and stylesheets, and anything inline."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.inline.append(f"<{tag}> with an inline style or handler")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            self._in_script = True
            if "src" not in attributes:
                self.inline.append("<script> without src")
        if tag == "script" or (tag == "link" and attributes.get("rel") == "stylesheet"):
            self.loaded.append({"tag": tag, **attributes})

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("<script> with a body")


def page_tags(stack: Stack) -> tuple[httpx.Response, PageTags]:
    response = httpx.get(f"{stack.server.url}/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    tags = PageTags()
    tags.feed(response.text)
    return response, tags


def test_every_vendored_file_matches_its_pinned_sri_hash() -> None:
    pinned = manifest()
    on_disk = {
        p.name for p in ASSET_DIR.iterdir() if p.name not in NOT_SERVED and "LICENSE" not in p.name
    }
    assert set(pinned) == on_disk, "every served file is in the manifest, and only those"
    assert set(pinned) == {*STYLES, *SCRIPTS}
    for name, entry in pinned.items():
        actual = sri((ASSET_DIR / name).read_bytes())
        assert entry["integrity"] == actual, f"{name}: the manifest pins another file ({actual})"


def test_the_manifest_names_each_files_package_version_source_and_licence() -> None:
    document = json.loads((ASSET_DIR / "manifest.json").read_text())
    for name, entry in document["files"].items():
        package = document["packages"][entry["package"]]
        assert package["licence"], name
        if entry["package"] != "carerecord":
            assert package["version"], name
            assert package["tarball"].startswith("https://registry.npmjs.org/"), name
            assert package["tarball_integrity"].startswith("sha512-"), name
            assert (ASSET_DIR / package["licence_file"]).is_file(), name


def test_the_page_loads_only_local_files_each_with_its_sri_hash(dev: Stack) -> None:
    _, tags = page_tags(dev)
    pinned = manifest()
    loaded = []
    for tag in tags.loaded:
        url = tag.get("src") or tag.get("href")
        assert url is not None
        assert url.startswith(ASSETS_PATH + "/"), url
        name = url.rsplit("/", 1)[1]
        assert tag["integrity"] == sri((ASSET_DIR / name).read_bytes()), name
        assert tag["integrity"] == pinned[name]["integrity"], name
        assert tag["crossorigin"] == "anonymous", name
        loaded.append(name)
    assert loaded == [*STYLES, *SCRIPTS]


def test_the_page_has_a_strict_content_security_policy_and_nothing_inline(dev: Stack) -> None:
    response, tags = page_tags(dev)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert tags.inline == []
    assert response.headers["cache-control"] == "no-store"
    assert "unpkg" not in response.text
    assert "jsdelivr" not in response.text


def test_assets_are_served_with_their_content_type_and_a_long_cache(dev: Stack) -> None:
    _, tags = page_tags(dev)
    for tag in tags.loaded:
        url = tag.get("src") or tag.get("href")
        assert url is not None
        response = httpx.get(dev.server.url + url)
        assert response.status_code == 200, url
        name = url.rsplit("/", 1)[1]
        assert response.content == (ASSET_DIR / name).read_bytes()
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.headers["content-type"] == f"{kind}; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_only_the_pinned_files_are_served(dev: Stack) -> None:
    _, tags = page_tags(dev)
    url = tags.loaded[0]["href"]
    assert url is not None
    fingerprint = url.split("/")[-2]
    for path in (
        f"{ASSETS_PATH}/0000000000000000/graphiql.min.css",
        f"{ASSETS_PATH}/{fingerprint}/manifest.json",
        f"{ASSETS_PATH}/{fingerprint}/README.md",
        f"{ASSETS_PATH}/{fingerprint}/..%2F..%2Fsettings.py",
        f"{ASSETS_PATH}/{fingerprint}/../../app.py",
    ):
        response = httpx.get(dev.server.url + path)
        assert response.status_code == 404, path
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_production_serves_neither_the_page_nor_its_files(dev: Stack, production: Stack) -> None:
    _, tags = page_tags(dev)
    page = httpx.get(f"{production.server.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 405
    assert "graphiql" not in page.text.lower()
    for tag in tags.loaded:
        url = tag.get("src") or tag.get("href")
        response = httpx.get(f"{production.server.url}{url}")
        assert response.status_code == 404, url
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def require_chromium() -> Path:
    """Debian's Chromium, or skip (fail in CI, which installs it: see .ci/run)."""
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
RESPONSE_TEXT = "() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
RESPONSE_HAS = "(text) => (" + RESPONSE_TEXT + ")().includes(text)"
"""Functions, not expressions: the page's CSP forbids the eval a string expression needs."""


def is_introspection(request: Request, token: str) -> bool:
    return (
        request.method == "POST"
        and request.headers.get("authorization") == f"Bearer {token}"
        and "IntrospectionQuery" in (request.post_data or "")
    )


@pytest.mark.browser
def test_a_browser_offline_renders_graphiql_takes_a_token_and_runs_a_query(
    dev: Stack, tmp_path: Path
) -> None:
    from playwright.sync_api import Route, sync_playwright

    executable = require_chromium()
    token = dev.token(GP)
    local = urlsplit(dev.server.url).netloc
    requested: list[str] = []
    blocked: list[str] = []
    sent_tokens: list[str | None] = []
    page_errors: list[str] = []

    def only_localhost(route: Route) -> None:
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            context.route("**/*", only_localhost)
            context.add_init_script(VIOLATIONS)
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on(
                "request",
                lambda request: (
                    request.method == "POST"
                    and sent_tokens.append(request.headers.get("authorization"))
                ),
            )
            page.goto(f"{dev.server.url}/graphql")
            page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=30_000)
            headers = page.locator(".graphiql-editor-tool .CodeMirror").last
            headers.wait_for(state="visible", timeout=10_000)

            # The template's placeholder is sent as it stands: the API refuses it.
            page.locator(".graphiql-execute-button").click()
            page.wait_for_function(RESPONSE_HAS, arg="UNAUTHENTICATED")

            # A token typed into the headers editor fetches the schema (docs, completion).
            with page.expect_response(
                lambda response: is_introspection(response.request, token), timeout=30_000
            ) as introspection:
                headers.click()
                page.keyboard.press("Control+A")
                page.keyboard.insert_text(json.dumps({"Authorization": f"Bearer {token}"}))
            assert introspection.value.status == 200, introspection.value.text()
            assert "__schema" in introspection.value.json()["data"]
            page.get_by_role("button", name="Show Documentation Explorer").click()
            explorer = page.locator(".graphiql-doc-explorer")
            explorer.get_by_text("Root Types").wait_for(timeout=10_000)
            assert explorer.get_by_text("Error fetching schema").count() == 0

            page.locator(".graphiql-execute-button").click()
            page.wait_for_function(RESPONSE_HAS, arg='"me"', timeout=30_000)
            result = json.loads(page.evaluate(RESPONSE_TEXT))
            violations = page.evaluate("window.__violations")
        finally:
            context.close()

    assert result["data"]["me"] == {
        "kind": "PRACTITIONER",
        "name": "Dr North",
        "profession": "gp",
        "agency": {"name": "Northgate Surgery"},
    }
    assert sent_tokens[0] == "Bearer PASTE-YOUR-TOKEN-HERE"
    assert sent_tokens[-1] == f"Bearer {token}"
    assert blocked == []
    assert [url for url in requested if urlsplit(url).netloc != local] == []
    assert {url.rsplit("/", 1)[1] for url in requested if ASSETS_PATH in url} == {
        *STYLES,
        *SCRIPTS,
    }
    assert violations == []
    assert page_errors == []


def bootstrap_introspection_query() -> str:
    """The introspection query the page's bootstrap script sends instead of GraphiQL's."""
    script = (ASSET_DIR / "carerecord-graphiql.js").read_text()
    block = script.split("var INTROSPECTION_QUERY = [", 1)[1].split("].join", 1)[0]
    return "\n".join(json.loads(line.rstrip(",")) for line in block.split("\n") if line.strip())


def test_the_pages_introspection_query_fits_the_limits_and_rebuilds_the_whole_schema() -> None:
    settings = ApiSettings(environment="dev")
    schema = build_schema(settings)._schema
    document = parse(bootstrap_introspection_query())
    limits = settings.limits
    assert validate(schema, document, [shape_rule(limits.max_depth, limits.max_aliases)]) == []
    result = graphql_sync(schema, print_ast(document))
    assert result.errors is None
    assert result.data is not None
    assert print_schema(build_client_schema(result.data)) == print_schema(schema)
