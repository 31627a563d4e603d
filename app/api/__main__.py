"""Serve the HTTP API: `python -m app.api` runs uvicorn on API_HOST:API_PORT.

With AUTH_MODE=none every caller acts as the local user, so, as for Streamlit, the API then
refuses to listen anywhere but on loopback.
"""

from __future__ import annotations

import sys

import uvicorn

from app.idp.secrets_file import is_loopback
from app.settings import get_settings


def main() -> int:
    settings = get_settings()
    if settings.auth_mode == "none" and not is_loopback(settings.api_host):
        print(f"AUTH_MODE=none lets every caller act as the local user: the API listens on "
              f"127.0.0.1 only, not on {settings.api_host}.", file=sys.stderr)
        return 2
    uvicorn.run("app.api.app:create_app", factory=True, host=settings.api_host,
                port=settings.api_port, proxy_headers=False, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
