"""The API's documentation page: Swagger UI served by napflow itself, not from a CDN.

The page works on a network with no way out, loads no script from anyone else, and runs
under a Content-Security-Policy that allows only napflow's own files and the one inline
script that starts Swagger UI (by its SHA-256). Swagger UI's files come with the
fastapi-offline package (a Swagger UI 5, which reads OpenAPI 3.1 as FastAPI writes it).
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def add_api_docs(app: FastAPI, path: str) -> None:
    """Serve Swagger UI for ``app``'s OpenAPI schema at ``path``, its files under it."""
    assets = f"{path}/assets"
    app.mount(assets, StaticFiles(directory=str(files("fastapi_offline") / "static")))
    # the page is the same for every visit: built once, with its policy
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "",
        title=f"{app.title} API",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
    )
    html = bytes(page.body).decode("utf-8")
    policy = _policy(html)

    @app.get(path, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def _policy(html: str) -> str:
    """Return a Content-Security-Policy for ``html``: own files, its inline scripts by hash."""
    hashes = " ".join(
        "'sha256-{}'".format(
            base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        )
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )
