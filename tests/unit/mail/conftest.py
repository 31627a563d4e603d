from __future__ import annotations

import pytest

from app.mail.smtp import SmtpConfig
from tests.support.mail_server import MailServer


@pytest.fixture
def mail_server():
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_config(mail_server: MailServer) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=mail_server.port, timeout=5, local_hostname="client")
