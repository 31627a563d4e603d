"""The FastAPI application: routes, problem+json errors, the body cap, OpenAPI under /api."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api import problems
from app.api.routes import cluster, dead_letters, events, files, jobs, kinds, outputs
from app.api.uploads import BodyLimit, BodyTooLarge

DESCRIPTION = """Submit, watch and fetch Nexus jobs from scripts.

Authenticate with `Authorization: Bearer <token>`: a personal token from the **API tokens**
page (or `python -m app.users token create EMAIL --name NAME`), or a JWT from the sign-in
provider. You see and act on your own jobs and files only; admins on everyone's. Errors are
`application/problem+json`.
"""


def create_app() -> FastAPI:
    """A new API application; `python -m app.api` serves one with uvicorn."""
    # The docs page's script and styles are served from here: a CDN may not be reachable.
    app = FastAPIOffline(
        title="Nexus API", version="1", description=DESCRIPTION,
        openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None,
        static_url="/api/docs-assets",
    )
    problems.install(app)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_middleware(BodyLimit)
    for module in (kinds, jobs, events, outputs, files, dead_letters, cluster):
        app.include_router(module.router)
    _load_tasks()
    return app


async def _body_too_large(request, exc: BodyTooLarge):
    return problems.response(413, str(exc))


def _load_tasks() -> None:
    """Import every task module now, so the first request does not pay for it."""
    from app.api import signatures

    signatures.kinds()
