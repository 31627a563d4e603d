"""SmtpSender and error classification against a real SMTP server (aiosmtpd) on a free port."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.errors import PermanentError, TransientError
from app.mail.message import Attachment, Draft, build_message
from app.mail.smtp import Deferred, SmtpConfig, SmtpSender, classify
from app.runtime.redis_server import free_port
from tests.support.mail_server import (
    MailServer,
    password_checker,
    self_signed_certificate,
    server_tls_context,
)

SENDER = "Nexus <nexus@example.com>"


def message(key: str = "k", to: str | list[str] = "ann@example.com", **extra):
    return build_message(
        Draft(sender=SENDER, to=to, subject=f"Message {key}", text="Hello", **extra), key
    )


def test_the_server_receives_exactly_the_built_bytes_and_envelope(mail_server, smtp_config):
    outgoing = message(
        cc="cat@example.com", bcc="boss@example.com", attachments=[Attachment("a.pdf", b"%PDF-1.7")]
    )
    with SmtpSender(smtp_config) as sender:
        delivery = sender.send(outgoing)
    [got] = mail_server.received
    assert got.data == outgoing.as_bytes()
    assert got.mail_from == "nexus@example.com"
    assert got.rcpt_tos == ["ann@example.com", "cat@example.com", "boss@example.com"]
    assert b"\nBcc:" not in got.data and b"boss@example.com" not in got.data
    assert delivery.accepted == ("ann@example.com", "cat@example.com", "boss@example.com")
    assert delivery.response.startswith("250")


def test_one_connection_carries_many_messages(mail_server, smtp_config):
    with SmtpSender(smtp_config) as sender:
        for i in range(5):
            sender.send(message(str(i)))
    assert len(mail_server.received) == 5
    assert mail_server.handler.sessions == 1
    assert sender.connections == 1


def test_a_session_the_server_dropped_while_idle_is_reopened():
    server = MailServer(timeout=0.3).start()  # the server hangs up idle sessions after 0.3 s
    try:
        config = SmtpConfig("127.0.0.1", server.port, timeout=5, local_hostname="client")
        with SmtpSender(config) as sender:
            sender.send(message("1"))
            time.sleep(0.8)
            sender.send(message("2"))
        assert [r.message["Subject"] for r in server.received] == ["Message 1", "Message 2"]
        assert sender.connections == 2
    finally:
        server.stop()


def test_421_is_transient_and_the_next_attempt_delivers(mail_server, smtp_config):
    mail_server.defer_next(1)
    with SmtpSender(smtp_config) as sender:
        with pytest.raises(Deferred) as caught:
            sender.send(message())
        assert "421" in str(caught.value)
        sender.send(message())
    assert len(mail_server.received) == 1


def test_550_is_permanent_and_carries_the_servers_reason(mail_server, smtp_config):
    mail_server.reject_all_data("550 5.7.1 Message rejected as spam")
    with SmtpSender(smtp_config) as sender, pytest.raises(PermanentError) as caught:
        sender.send(message())
    assert not isinstance(caught.value, TransientError)
    assert "550 5.7.1 Message rejected as spam" in str(caught.value)
    assert mail_server.received == []


def test_some_refused_recipients_do_not_stop_the_others(mail_server, smtp_config):
    mail_server.reject("gone@example.com")
    with SmtpSender(smtp_config) as sender:
        delivery = sender.send(message(to=["ann@example.com", "gone@example.com"]))
    assert delivery.accepted == ("ann@example.com",)
    assert delivery.refused == {"gone@example.com": "550 5.1.1 User unknown"}
    assert mail_server.to_addresses() == ["ann@example.com"]


def test_every_recipient_refused_is_permanent(mail_server, smtp_config):
    mail_server.reject("gone@example.com")
    with SmtpSender(smtp_config) as sender, pytest.raises(PermanentError) as caught:
        sender.send(message(to="gone@example.com"))
    assert "gone@example.com: 550 5.1.1 User unknown" in str(caught.value)


def test_a_refused_connection_is_transient():
    config = SmtpConfig("127.0.0.1", free_port(), timeout=2)
    with SmtpSender(config) as sender, pytest.raises(TransientError) as caught:
        sender.send(message())
    assert "refused the connection" in str(caught.value)


def test_a_server_that_never_answers_times_out_as_transient():
    with socket.socket() as silent:  # accepts connections in the kernel, never says hello
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        config = SmtpConfig("127.0.0.1", silent.getsockname()[1], timeout=0.5)
        started = time.monotonic()
        with SmtpSender(config) as sender, pytest.raises(TransientError) as caught:
            sender.send(message())
    assert "did not answer within 0.5 seconds" in str(caught.value)
    assert time.monotonic() - started < 3


def test_classify_sorts_reply_codes():
    import smtplib

    assert isinstance(classify(smtplib.SMTPDataError(451, b"try later")), Deferred)
    assert type(classify(smtplib.SMTPConnectError(421, b"busy"))) is TransientError
    permanent = classify(smtplib.SMTPSenderRefused(553, b"5.7.1 not allowed", "a@example.com"))
    assert isinstance(permanent, PermanentError) and "553 5.7.1 not allowed" in str(permanent)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def test_starttls_with_login(certificate):
    cert, key = certificate
    server = MailServer(
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        authenticator=password_checker("mailer", "s3cret-pw"),
        auth_require_tls=True,
    ).start()
    try:
        config = SmtpConfig(
            "127.0.0.1",
            server.port,
            security="starttls",
            user="mailer",
            password=SecretStr("s3cret-pw"),
            ca_file=str(cert),
            timeout=5,
        )
        with SmtpSender(config) as sender:
            sender.send(message())
        assert len(server.received) == 1

        wrong = SmtpConfig(
            "127.0.0.1",
            server.port,
            security="starttls",
            user="mailer",
            password=SecretStr("wrong-pw"),
            ca_file=str(cert),
            timeout=5,
        )
        with SmtpSender(wrong) as sender, pytest.raises(PermanentError) as caught:
            sender.send(message("2"))
        assert "refused the SMTP login" in str(caught.value)
        assert "wrong-pw" not in str(caught.value) and "wrong-pw" not in repr(wrong)
    finally:
        server.stop()


def test_implicit_tls(certificate):
    cert, key = certificate
    server = MailServer(ssl_context=server_tls_context(cert, key)).start()
    try:
        config = SmtpConfig("127.0.0.1", server.port, security="tls", ca_file=str(cert), timeout=5)
        with SmtpSender(config) as sender:
            sender.send(message())
        assert len(server.received) == 1
    finally:
        server.stop()


def test_an_untrusted_certificate_is_permanent(certificate):
    cert, key = certificate
    server = MailServer(ssl_context=server_tls_context(cert, key)).start()
    try:
        config = SmtpConfig("127.0.0.1", server.port, security="tls", timeout=5)
        with SmtpSender(config) as sender, pytest.raises(PermanentError) as caught:
            sender.send(message())
        assert "certificate" in str(caught.value)
    finally:
        server.stop()
