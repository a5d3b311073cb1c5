"""The web dashboard: `GET /` serves the page, `GET /static/...` its ES modules and CSS.

No build step: the files in `serve_app/static/` are what the browser runs, from this
server only (no CDN), so the page works offline. The page talks to the REST API and
`/ws` with the key the user enters; the server's `STOCKRAY_LOCALE` reaches it as a
`<meta>` in `index.html`.
"""

import html
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from serve_app.context import Ctx
from serve_app.errors import ApiError

router = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parent / "static"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",  # vendored ES modules (static/vendor/)
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
HEADERS = {
    # Everything comes from this origin; the socket goes to this host (ws: or wss:).
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate (ETag), so a new deploy is seen at once
}


@cache
def _index_template() -> str:
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def index(ctx: Ctx) -> HTMLResponse:
    """The dashboard page; pages inside it are hash routes (`#/`, `#/instrument/X`, `#/ops`)."""
    page = _index_template().replace("{{locale}}", html.escape(ctx.settings.locale))
    return HTMLResponse(page, headers=HEADERS)


@router.get("/favicon.ico")
async def favicon() -> Response:
    """Browsers ask for it on any page of this origin (an API answer or a cited file opened
    in a tab): the dashboard's SVG icon rather than a 404 in the log and the console."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type=MEDIA_TYPES[".svg"], headers=HEADERS)


@router.get("/static/{path:path}")
async def static(path: str) -> Response:
    """A file under `serve_app/static/`; nothing outside it, only known file types."""
    target = (STATIC_DIR / path).resolve()
    media_type = MEDIA_TYPES.get(target.suffix)
    if media_type is None or not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise ApiError(404, "not_found", f"no static file {path!r}")
    return FileResponse(target, media_type=media_type, headers=HEADERS)
