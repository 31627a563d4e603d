"""Run the embedded identity provider.

    python -m app.idp prepare     # register Nexus, make the first admin (prints it once)
    python -m app.idp serve       # serve on IDP_ADDRESS:IDP_PORT until stopped
"""

from __future__ import annotations

import argparse
import sys

from werkzeug.serving import make_server

from app.idp import embedded
from app.settings import get_settings


def serve() -> int:
    settings = get_settings()
    app = embedded.open_app(settings)
    server = make_server(settings.idp_address, settings.idp_port, app, threaded=True)
    print(f"Identity provider on {settings.idp_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.idp")
    parser.add_argument("command", choices=["prepare", "serve"])
    args = parser.parse_args(argv)
    if args.command == "prepare":
        admin = embedded.prepare(get_settings())
        print(f"Sign-in admin: {admin}" if admin else "Nexus is registered; admin exists.")
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
