"""People of the embedded identity provider, from the command line.

    python -m app.users add EMAIL [--name NAME] [--admin]   # prints a generated password once
    python -m app.users reset EMAIL                         # a new password, printed once
    python -m app.users disable EMAIL                       # locks the account
    python -m app.users list
"""

from __future__ import annotations

import argparse
import sys

from app.idp import accounts, embedded
from app.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.users")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a person; prints their password once")
    add.add_argument("email")
    add.add_argument("--name", default="")
    add.add_argument("--admin", action="store_true")
    for name in ("reset", "disable"):
        commands.add_parser(name).add_argument("email")
    commands.add_parser("list")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    if not settings.embedded_idp:
        print("Nexus signs in through OIDC_METADATA_URL: manage people there.", file=sys.stderr)
        return 2
    app = embedded.open_app(settings)
    try:
        if args.command == "add":
            password = accounts.add(app, args.email, args.name, args.admin)
            print(f"{args.email.lower()}  password {password}")
        elif args.command == "reset":
            print(f"{args.email.lower()}  password {accounts.reset(app, args.email)}")
        elif args.command == "disable":
            accounts.disable(app, args.email)
            print(f"{args.email.lower()} can no longer sign in.")
        else:
            for person in accounts.people(app):
                flags = " ".join(f for f, on in (("admin", person.admin),
                                                 ("disabled", person.disabled)) if on)
                print(f"{person.email}\t{person.name}\t{flags}".rstrip())
    except (ValueError, LookupError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
