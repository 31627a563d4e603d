"""The HTTP API: FastAPI over app.jobs, app.myfiles and app.monitor, for scripts and services.

Every call acts as the person its bearer token (app.tokens) or OIDC JWT (app.api.oidc) names,
through the same app.jobs calls the pages make: isolation, quotas, size caps and the audit log
are theirs, never re-implemented here. Errors are RFC 9457 problem+json (app.api.problems).

    python -m app.api          # uvicorn on API_HOST:API_PORT (127.0.0.1:8000)
"""

from app.api.app import create_app

__all__ = ["create_app"]
