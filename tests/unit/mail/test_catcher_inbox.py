"""The local catcher (`python -m app.mail.catcher`) and the inbox reader the Email page uses."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from app.mail import inbox
from app.mail.catcher import StoringHandler
from app.mail.message import Attachment, Draft, build_message
from app.mail.smtp import SmtpConfig, SmtpSender
from app.runtime.redis_server import free_port

ROOT = Path(__file__).resolve().parents[3]


def outgoing(subject: str = "Hello", **extra):
    draft = Draft(
        sender="Nexus <nexus@localhost>",
        to="Ann <ann@example.com>",
        bcc="boss@example.com",
        subject=subject,
        html="<p>Hi <b>Ann</b></p>",
        **extra,
    )
    return build_message(draft, subject)


@pytest.fixture
def catcher(tmp_path: Path):
    port = free_port()
    controller = Controller(StoringHandler(tmp_path), hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpConfig("127.0.0.1", port, timeout=5, local_hostname="client"), tmp_path
    controller.stop()


def test_each_message_is_stored_byte_for_byte_with_its_envelope(catcher):
    config, folder = catcher
    message = outgoing(attachments=[Attachment("notes.txt", b"remember")])
    with SmtpSender(config) as sender:
        sender.send(message)
    [item] = inbox.list_messages(folder)
    assert item.subject == "Hello" and item.to == "Ann <ann@example.com>"
    assert item.rcpt_tos == ["ann@example.com", "boss@example.com"]
    assert item.mail_from == "nexus@localhost"
    opened = inbox.read_message(folder, item.name)
    assert opened.raw == message.as_bytes()
    assert opened.text == "Hi Ann\n"
    assert "<b>Ann</b>" in opened.html
    assert [(a.filename, a.size) for a in opened.attachments] == [("notes.txt", 8)]
    assert inbox.attachment_bytes(folder, item.name, 0) == ("notes.txt", "text/plain", b"remember")


def test_the_inbox_lists_newest_first_and_can_be_cleared(catcher):
    config, folder = catcher
    with SmtpSender(config) as sender:
        for subject in ("first", "second", "third"):
            sender.send(outgoing(subject))
    assert [m.subject for m in inbox.list_messages(folder)] == ["third", "second", "first"]
    assert [m.subject for m in inbox.list_messages(folder, limit=1)] == ["third"]
    assert inbox.count(folder) == 3
    assert inbox.clear(folder) == 3
    assert inbox.list_messages(folder) == []


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "x.eml", "", "1795291066942078256-1fd121c5.json"]
)
def test_the_reader_refuses_names_outside_the_inbox(tmp_path: Path, name: str):
    with pytest.raises(FileNotFoundError):
        inbox.read_message(tmp_path, name)


def test_a_missing_folder_is_an_empty_inbox(tmp_path: Path):
    assert inbox.list_messages(tmp_path / "nothing") == []
    assert inbox.count(tmp_path / "nothing") == 0


def test_the_catcher_command_stores_mail_and_stops_cleanly(tmp_path: Path):
    port = free_port()
    folder = tmp_path / "mail"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.mail.catcher", "--dir", str(folder), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_port(port, process)
        with SmtpSender(SmtpConfig("127.0.0.1", port, timeout=5)) as sender:
            sender.send(outgoing("via the command"))
        assert [m.subject for m in inbox.list_messages(folder)] == ["via the command"]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0]
    assert process.returncode == 0, output
    assert "Mail catcher listening" in output


def test_the_catcher_says_so_when_the_port_is_taken(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "app.mail.catcher", "--dir", str(tmp_path), "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"could not listen on 127.0.0.1:{port}" in result.stderr


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the catcher did not start listening")
