"""A real SMTP server for tests: aiosmtpd on a free port, recording the exact bytes it accepted.

Its answers can be scripted: `defer_next(n)` answers 421 to the next n DATA commands, `reject`
answers 550 to one recipient, `reject_all_data` answers 550 to every message.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.runtime.redis_server import free_port


@dataclass
class Received:
    """One message as the server got it: envelope and raw bytes."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


class RecordingHandler:
    """Accepts mail and records it, unless told to answer otherwise."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.sessions = 0
        self.deferrals = 0
        self.rejected_rcpts: dict[str, str] = {}
        self.data_reply: str | None = None
        self.data_delay = 0.0
        self._lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self._lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rejected_rcpts.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            if self.deferrals > 0:
                self.deferrals -= 1
                return "421 4.3.2 Service shutting down, try again later"
            if self.data_reply:
                return self.data_reply
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self._lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 Queued"


class MailServer:
    """An aiosmtpd Controller with a RecordingHandler, started on a free port."""

    def __init__(self, **smtp_options) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="smtp.test",
            **smtp_options,
        )

    def start(self) -> MailServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def reset(self) -> None:
        """Forget everything received and every scripted answer."""
        handler = self.handler
        with handler._lock:
            handler.received.clear()
            handler.sessions = 0
            handler.deferrals = 0
            handler.rejected_rcpts.clear()
            handler.data_reply = None
            handler.data_delay = 0.0

    def defer_next(self, count: int = 1) -> None:
        self.handler.deferrals = count

    def reject(self, address: str, reply: str = "550 5.1.1 User unknown") -> None:
        self.handler.rejected_rcpts[address.lower()] = reply

    def reject_all_data(self, reply: str = "550 5.7.1 Message rejected as spam") -> None:
        self.handler.data_reply = reply

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until `count` messages arrived; returns them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(self.received)}")
            time.sleep(0.05)
        return list(self.received)

    def to_addresses(self) -> list[str]:
        return [rcpt for r in self.received for rcpt in r.rcpt_tos]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert, key) for 127.0.0.1, made with the openssl command line."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def password_checker(user: str, password: str) -> Callable:
    """An aiosmtpd authenticator accepting exactly one user and password."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


def worker_env(server: MailServer, **extra: str) -> dict[str, str]:
    """What an email worker needs to send to `server`, unthrottled, plus `extra` settings."""
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "Nexus <nexus@example.com>",
        "EMAIL_RATE_PER_MINUTE": "6000",
        **extra,
    }
