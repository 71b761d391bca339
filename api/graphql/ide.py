"""GraphiQL for dev mode, served from the package itself: nothing comes from a CDN.

Hospital and council networks often cannot reach the public CDNs strawberry's page
loads React and GraphiQL from, so the page stays on "Loading...". The files live in
``api/static/graphiql`` (vendored from the npm registry, pinned); ``manifest.json``
there records where each came from, its licence and its SHA-384 (the page's
``integrity`` attribute, so the browser refuses an altered file). Asset URLs carry a
fingerprint of that hash: they are cached for a year and change whenever a file does.
The page's Content-Security-Policy takes scripts and styles from this origin only
(its bootstrap script is a file, not inline) and lets it talk to this origin only.

Production never serves any of it: the page and the assets answer as unknown routes.
"""

from __future__ import annotations

import base64
import functools
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath

from fastapi import APIRouter, Request, Response
from starlette.exceptions import HTTPException

ASSETS_PATH = "/graphql/assets"
STYLES = ("graphiql.min.css", "plugin-explorer.css", "carerecord-graphiql.css")
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "carerecord-graphiql.js",
)
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ASSET_HEADERS: Mapping[str, str] = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Asset:
    """One vendored file, with the SRI hash the manifest pins it to."""

    name: str
    integrity: str
    body: bytes

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[PurePosixPath(self.name).suffix]

    @property
    def fingerprint(self) -> str:
        """The URL's cache key: the start of the pinned SHA-384, in hex."""
        digest = base64.b64decode(self.integrity.removeprefix("sha384-"))
        return digest.hex()[:16]

    @property
    def url(self) -> str:
        return f"{ASSETS_PATH}/{self.fingerprint}/{self.name}"


@dataclass(frozen=True)
class Bundle:
    """The page and the files it loads, read from the package once."""

    assets: Mapping[str, Asset]
    page: str


def asset_folder() -> Traversable:
    return resources.files("api").joinpath("static", "graphiql")


@functools.cache
def bundle() -> Bundle:
    folder = asset_folder()
    manifest = json.loads(folder.joinpath("manifest.json").read_text(encoding="utf-8"))
    assets = {
        name: Asset(name, entry["integrity"], folder.joinpath(name).read_bytes())
        for name, entry in manifest["files"].items()
    }
    return Bundle(assets, render_page(assets))


def render_page(assets: Mapping[str, Asset]) -> str:
    """The GraphiQL page, every file local and pinned by its ``integrity``."""

    def attrs(asset: Asset, link: str) -> str:
        return (
            f'{link}="{html.escape(asset.url)}" integrity="{html.escape(asset.integrity)}" '
            'crossorigin="anonymous"'
        )

    styles = "\n".join(
        f'    <link rel="stylesheet" {attrs(assets[name], "href")}>' for name in STYLES
    )
    scripts = "\n".join(f"    <script {attrs(assets[name], 'src')}></script>" for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>carerecord GraphiQL (dev mode)</title>
    <link rel="icon" href="data:,">
{styles}
  </head>
  <body>
    <div id="graphiql" class="graphiql-container">Loading...</div>
{scripts}
  </body>
</html>
"""


def page_response() -> Response:
    return Response(bundle().page, media_type="text/html", headers=dict(PAGE_HEADERS))


def graphiql_asset(request: Request, fingerprint: str, name: str) -> Response:
    """One of the page's files (dev mode); anything else is an unknown route."""
    asset = bundle().assets.get(name) if request.app.state.api_settings.graphiql else None
    if asset is None or asset.fingerprint != fingerprint:
        raise HTTPException(404)
    return Response(asset.body, media_type=asset.content_type, headers=dict(ASSET_HEADERS))


def ide_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    router.add_api_route(ASSETS_PATH + "/{fingerprint}/{name}", graphiql_asset, methods=["GET"])
    return router
