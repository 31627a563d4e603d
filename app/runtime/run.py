"""`make run`: the whole platform in one terminal, on an embedded Redis when none is configured.

Redis (found or started), one worker per queue, beat, Flower, the local mail catcher and
Streamlit run under honcho; Ctrl-C stops them all, workers with a warm shutdown.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import sys
from importlib.util import find_spec

from honcho.manager import Manager

from app.runtime import processes
from app.runtime.redis_server import RedisUnavailable, ensure, password_file
from app.settings import Settings, get_settings, redact_url


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _optional_processes() -> dict[str, list[str]]:
    """Processes that exist only where their parts do: mail catcher, IdP, metrics, LibreOffice."""
    settings = get_settings()
    extra: dict[str, list[str]] = {}
    local_smtp = settings.smtp_host in ("127.0.0.1", "localhost")
    if local_smtp and find_spec("app.mail.catcher") and not _port_answers(
        settings.smtp_host, settings.smtp_port
    ):
        extra["mail"] = [
            sys.executable, "-m", "app.mail.catcher",
            "--dir", str(settings.var_dir / "mail"), "--port", str(settings.smtp_port),
        ]
    if settings.embedded_idp:
        extra["idp"] = processes.idp_command()
    if find_spec("app.runtime.metrics"):
        extra["metrics"] = processes.metrics_command()
    if shutil.which("soffice"):
        extra["unoserver"] = processes.unoserver_command()
    return extra


def _prepare_sign_in(settings: Settings) -> bool:
    """Refuse sign-in off beyond loopback; set up the embedded provider; print its admin once."""
    from app.idp import embedded, secrets_file

    try:
        secrets_file.check_auth_mode(settings)
        if settings.auth_mode == "none":
            print("Sign-in: OFF (AUTH_MODE=none), loopback only")
            return True
        if settings.embedded_idp:
            admin = embedded.prepare(settings)
            where = f"Sign-in: {settings.idp_url} (embedded, data in var/idp)"
            print(f"{where}  {admin}" if admin else where)
        else:
            print(f"Sign-in: {settings.oidc_metadata_url}")
        secrets_file.write(settings)
    except RuntimeError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return False
    return True


def main() -> int:
    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if not _prepare_sign_in(settings):
        return 1
    try:
        # An embedded server gets a password kept in var/, so no other local user reads it.
        redis_password = password_file(settings.var_dir / "redis.password")
        url, server = ensure(settings.redis_url, settings.var_dir / "redis", redis_password,
                             appendfsync=settings.redis_appendfsync)
    except (RedisUnavailable, OSError) as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 1
    os.environ["REDIS_URL"] = url  # every child inherits this environment, password included
    origin = "started here, data in var/redis" if server else "already running"
    print(f"Redis: {redact_url(url)} ({origin})")

    password = None
    flower = f"Flower: {settings.flower_address}  user {settings.flower_user}"
    if processes.configured_flower_password() is None:  # unset or empty: never auth off
        password = secrets.token_urlsafe(12)
        print(f"{flower}  password {password}")
    else:
        print(f"{flower}  (password from .env)")
    os.environ.update(processes.flower_auth(password))  # Flower reads FLOWER_BASIC_AUTH
    print(f"API:    http://{settings.api_host}:{settings.api_port}/api/docs")
    print(f"Nexus:  http://127.0.0.1:{settings.streamlit_port}\n")

    manager = Manager()
    commands = {**processes.all_commands(), **_optional_processes()}
    for name, command in commands.items():
        manager.add_process(name, shlex.join(command))
    try:
        manager.loop()
    finally:
        if server:
            server.stop()
            print("Redis stopped; its data stays in var/redis.")
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
