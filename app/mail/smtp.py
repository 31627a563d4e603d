"""SMTP delivery: one session reused for many messages, and SMTP errors sorted into kinds.

`SmtpSender` opens a connection on first use (plain, STARTTLS or implicit TLS, optional login),
keeps it for every following message, and reconnects when the server dropped an idle session.
`classify` turns any failure into TransientError (retrying may help) or PermanentError (it
cannot), carrying the server's own reason.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from functools import lru_cache
from types import TracebackType
from typing import Literal

from pydantic import SecretStr

from app.errors import JobError, PermanentError, TransientError
from app.mail.message import OutgoingMessage
from app.settings import Settings, get_settings

Security = Literal["none", "starttls", "tls"]


class Deferred(TransientError):
    """The server answered 4xx for this message: try it again later; the session is fine."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the mail server; the password stays a SecretStr."""

    host: str
    port: int
    security: Security = "none"
    user: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: str | None = None
    local_hostname: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SmtpConfig:
        """The configuration in SMTP_* settings."""
        s = settings or get_settings()
        return cls(
            host=s.smtp_host,
            port=s.smtp_port,
            security=s.smtp_security,
            user=s.smtp_user or None,
            password=s.smtp_password,
            timeout=s.smtp_timeout,
            ca_file=str(s.smtp_ca_file) if s.smtp_ca_file else None,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Delivery:
    """What the server said about one message it accepted."""

    message_id: str
    accepted: tuple[str, ...]
    refused: dict[str, str]  # recipient -> the server's reason
    response: str


@lru_cache(maxsize=8)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    # Loading the CA store costs tens of milliseconds; do it once per process, not per connect.
    return ssl.create_default_context(cafile=ca_file)


@lru_cache(maxsize=1)
def _default_local_hostname() -> str:
    # smtplib looks this up on every connect, which costs a DNS round trip each time.
    return socket.getfqdn() or "localhost"


class SmtpSender:
    """Sends messages over one SMTP session, reconnecting when the server has dropped it."""

    def __init__(self, config: SmtpConfig | None = None) -> None:
        self.config = config or SmtpConfig.from_settings()
        self.connections = 0
        self._smtp: smtplib.SMTP | None = None
        self._stage = "connect"

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def send(self, outgoing: OutgoingMessage) -> Delivery:
        """Deliver `outgoing` to all its recipients; raises TransientError or PermanentError."""
        data = outgoing.as_bytes()
        for attempt in (1, 2):
            reused = self._smtp is not None
            try:
                return self._transaction(self._session(), outgoing, data)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                # Only a session that died while idle is safe to redo: nothing was accepted yet.
                if attempt == 2 or not reused or self._stage != "mail":
                    raise classify(exc, self.config) from exc
            except (smtplib.SMTPException, OSError, JobError) as exc:
                self._recover()
                raise classify(exc, self.config) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        """End the session politely; a server that already left is fine."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._stage = "connect"
            self._smtp = self._connect()
            self.connections += 1
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        hostname = cfg.local_hostname or _default_local_hostname()
        if cfg.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.host,
                cfg.port,
                local_hostname=hostname,
                timeout=cfg.timeout,
                context=_tls_context(cfg.ca_file),
            )
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, local_hostname=hostname, timeout=cfg.timeout)
        try:
            smtp.ehlo()
            if cfg.security == "starttls":
                smtp.starttls(context=_tls_context(cfg.ca_file))
                smtp.ehlo()
            if cfg.user:
                secret = cfg.password.get_secret_value() if cfg.password else ""
                smtp.login(cfg.user, secret)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _transaction(self, smtp: smtplib.SMTP, outgoing: OutgoingMessage, data: bytes) -> Delivery:
        self._stage = "mail"
        code, reply = smtp.mail(outgoing.envelope_from, self._mail_options(smtp, outgoing, data))
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, outgoing.envelope_from)
        self._stage = "rcpt"
        refused = self._add_recipients(smtp, outgoing.recipients)
        if len(refused) == len(outgoing.recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        self._stage = "data"
        code, reply = smtp.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        self._stage = "done"
        return Delivery(
            message_id=outgoing.message_id,
            accepted=tuple(r for r in outgoing.recipients if r not in refused),
            refused={r: _reply_text(c, m) for r, (c, m) in refused.items()},
            response=_reply_text(code, reply),
        )

    def _mail_options(
        self, smtp: smtplib.SMTP, outgoing: OutgoingMessage, data: bytes
    ) -> list[str]:
        # SIZE lets the server refuse an oversized message before it is transmitted.
        return [f"SIZE={len(data)}"] if smtp.has_extn("size") else []

    def _add_recipients(
        self, smtp: smtplib.SMTP, recipients: tuple[str, ...]
    ) -> dict[str, tuple[int, bytes]]:
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in recipients:
            code, reply = smtp.rcpt(rcpt)
            if code == 421:
                raise smtplib.SMTPResponseException(code, reply)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        return refused

    def _recover(self) -> None:
        """Reset a failed transaction so the session can carry the next message."""
        if self._smtp is None:
            return
        self._stage = "rset"
        try:
            code, _ = self._smtp.rset()
            if code != 250:
                self._drop()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}".strip()


def classify(exc: BaseException, config: SmtpConfig | None = None) -> JobError:
    """The failure as TransientError or PermanentError, with a sentence a user understands."""
    where = f"The mail server at {config.address}" if config else "The mail server"
    if isinstance(exc, JobError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _refused_recipients(exc.recipients)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _by_code(
            exc.smtp_code,
            f"{where} refused the SMTP login",
            exc.smtp_error,
            hint=" Check SMTP_USER and SMTP_PASSWORD.",
        )
    if isinstance(exc, (smtplib.SMTPConnectError, smtplib.SMTPHeloError)):
        return _by_code(exc.smtp_code, f"{where} refused the session", exc.smtp_error)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(
            exc.smtp_code, f"{where} refused the message", exc.smtp_error, transient=Deferred
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"{where} does not support what the settings ask for: {exc}.")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read that timed out as a disconnect; the cause says which it was.
        if isinstance(exc.__context__, TimeoutError):
            return _network_error(exc.__context__, where, config)
        return TransientError(f"{where} closed the connection unexpectedly.")
    return _network_error(exc, where, config)


def _network_error(exc: BaseException, where: str, config: SmtpConfig | None) -> JobError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(
            f"{where} has a TLS certificate that cannot be trusted: {exc.verify_message}."
        )
    if isinstance(exc, ssl.SSLError):
        return PermanentError(
            f"The TLS handshake with {where.removeprefix('The ').lower()} failed"
            f" ({exc.reason}). Check SMTP_SECURITY and SMTP_PORT."
        )
    if isinstance(exc, ConnectionRefusedError):
        return TransientError(f"{where} refused the connection.")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        seconds = f" within {config.timeout:g} seconds" if config else ""
        return TransientError(f"{where} did not answer{seconds}.")
    if isinstance(exc, socket.gaierror):
        return TransientError(f"{where} could not be found ({exc.strerror}).")
    if isinstance(exc, (OSError, smtplib.SMTPException)):
        return TransientError(f"{where} could not be reached ({exc}).")
    return PermanentError(f"Sending failed unexpectedly: {type(exc).__name__}: {exc}")


def _by_code(
    code: int,
    what: str,
    reply: bytes | str,
    hint: str = "",
    transient: type[TransientError] = TransientError,
) -> JobError:
    reason = _reply_text(code, reply)
    if 400 <= code < 500:
        return transient(f"{what} for now ({reason}).{hint}")
    return PermanentError(f"{what} ({reason}).{hint}")


def _refused_recipients(refused: dict[str, tuple[int, bytes]]) -> JobError:
    reasons = "; ".join(
        f"{rcpt}: {_reply_text(code, msg)}" for rcpt, (code, msg) in refused.items()
    )
    if refused and all(400 <= code < 500 for code, _ in refused.values()):
        return Deferred(f"The mail server deferred every recipient for now ({reasons}).")
    return PermanentError(f"The mail server refused every recipient ({reasons}).")
