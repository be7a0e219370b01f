"""The web dashboard at ``/ui``: static files shipped in the package (``ui/``), no token needed.

The page itself asks for a bearer token and sends it on every ``/api/v1`` request it makes, so
serving it unauthenticated discloses nothing but the page's code. Only the files listed in
``UI_FILES`` are served, with their content type and a strict Content-Security-Policy (no inline
script or style, nothing from another origin).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import RedirectResponse, Response

UI_FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

ui_router = APIRouter(include_in_schema=False)


@cache
def _read(name: str) -> bytes:
    return resources.files(__package__ or "batchacct_api").joinpath("ui", name).read_bytes()


def _file(name: str) -> Response:
    content_type = UI_FILES.get(name)
    if content_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="not found")
    return Response(_read(name), media_type=content_type, headers=SECURITY_HEADERS)


@ui_router.get("/ui")
async def ui_root() -> RedirectResponse:
    """``/ui`` -> ``/ui/`` so that the page's relative links resolve under ``/ui/``."""
    return RedirectResponse("ui/", status_code=status.HTTP_308_PERMANENT_REDIRECT)


@ui_router.get("/ui/")
async def ui_index() -> Response:
    return _file("index.html")


@ui_router.get("/ui/{name}")
async def ui_file(name: str) -> Response:
    return _file(name)
