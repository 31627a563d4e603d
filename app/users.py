"""People of the embedded identity provider, from the command line.

    python -m app.users add EMAIL [--name NAME] [--admin]   # prints a generated password once
    python -m app.users reset EMAIL                         # a new password, printed once
    python -m app.users disable EMAIL                       # locks the account
    python -m app.users list
    python -m app.users token create EMAIL --name NAME [--days N]   # prints an API token once
    python -m app.users token list [EMAIL]
    python -m app.users token revoke TOKEN_ID

Token commands work whichever provider signs people in: they talk to Redis (app.tokens).
"""

from __future__ import annotations

import argparse
import sys
import time

from app import tokens
from app.auth import SYSTEM, User, owner_id
from app.idp import accounts, embedded
from app.settings import Settings, get_settings


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
    _token_parser(commands.add_parser("token", help="API tokens: create, list, revoke"))
    return parser


def _token_parser(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a token for EMAIL; prints it once")
    create.add_argument("email")
    create.add_argument("--name", required=True)
    create.add_argument("--days", type=float, default=None, help="expire after this many days")
    listing = actions.add_parser("list", help="everyone's tokens, or EMAIL's")
    listing.add_argument("email", nargs="?")
    actions.add_parser("revoke").add_argument("token_id")


def _person(email: str, settings: Settings) -> User:
    """The user a token for EMAIL acts as: their name and admin right from the embedded
    provider's account, or from AUTH_ADMINS with a company provider (checked on every use)."""
    uid = owner_id(email)
    if not settings.embedded_idp:
        return User(uid, "", is_admin=uid in {owner_id(a) for a in settings.auth_admins})
    found = [p for p in accounts.people(embedded.open_app(settings)) if p.email == uid]
    if not found or found[0].disabled:
        raise LookupError(f"There is no active account for {uid}: add it first.")
    return User(uid, found[0].name, is_admin=found[0].admin)


def token_command(args: argparse.Namespace, settings: Settings) -> int:
    """The `token` commands; an operator at the terminal acts as the platform (SYSTEM)."""
    if args.action == "create":
        expires = time.time() + args.days * 86400 if args.days else None
        secret, made = tokens.create(_person(args.email, settings), args.name, expires_at=expires)
        print(f"{made.owner}  token {made.id}  {secret}")
        print("Shown once: Nexus keeps only its fingerprint.", file=sys.stderr)
    elif args.action == "list":
        for t in tokens.list_tokens(user=SYSTEM, everyone=True):
            if args.email and t.owner != owner_id(args.email):
                continue
            state = "expired" if t.expired else "admin" if t.admin else ""
            used = time.strftime("%Y-%m-%d %H:%M", time.gmtime(t.last_used)) if t.last_used \
                else "never used"
            print(f"{t.id}\t{t.owner}\t{t.name}\t{used}\t{state}".rstrip())
    elif not tokens.revoke(args.token_id, user=SYSTEM):
        raise LookupError(f"There is no token {args.token_id}.")
    else:
        print(f"Revoked {args.token_id}.")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.command == "token":
        try:
            return token_command(args, settings)
        except (ValueError, LookupError) as exc:
            print(exc, file=sys.stderr)
            return 1
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
