from __future__ import annotations

from email import message_from_bytes, policy
from email.errors import HeaderParseError

import pytest

from app.errors import PermanentError
from app.mail.addresses import HeaderInjection, InvalidAddress
from app.mail.message import (
    Attachment,
    Draft,
    OutgoingMessage,
    build_message,
    make_message_id,
)

SENDER = "Nexus <nexus@example.com>"


def parsed(draft: Draft, key: str = "k1"):
    outgoing = build_message(draft, key)
    # A mailbox stores messages with native line ends, as the reader then sees them.
    native = outgoing.as_bytes().replace(b"\r\n", b"\n")
    return outgoing, message_from_bytes(native, policy=policy.default)


def tree(msg) -> list:
    if msg.is_multipart():
        return [msg.get_content_type(), [tree(p) for p in msg.iter_parts()]]
    return msg.get_content_type()


def test_text_only_is_a_single_text_part() -> None:
    _, msg = parsed(Draft(sender=SENDER, to="ann@example.com", subject="Hi", text="Hello"))
    assert tree(msg) == "text/plain"
    assert msg.get_content() == "Hello"


def test_html_only_gets_a_text_alternative_generated_from_it() -> None:
    _, msg = parsed(
        Draft(
            sender=SENDER,
            to="ann@example.com",
            subject="Hi",
            html="<p>Hello <b>Ann</b></p><p>Bye</p>",
        )
    )
    assert tree(msg) == ["multipart/alternative", ["text/plain", "text/html"]]
    assert msg.get_body(("plain",)).get_content() == "Hello Ann\n\nBye\n"
    assert msg.get_body(("html",)).get_content() == "<p>Hello <b>Ann</b></p><p>Bye</p>"


def test_attachments_wrap_the_alternative_in_mixed() -> None:
    draft = Draft(
        sender=SENDER,
        to="ann@example.com",
        subject="Report",
        text="See attached",
        html="<p>See attached</p>",
        attachments=[
            Attachment("report.pdf", b"%PDF-1.7 data"),
            Attachment("données.csv", b"a,b\n1,2\n"),
        ],
    )
    _, msg = parsed(draft)
    assert tree(msg) == [
        "multipart/mixed",
        [
            ["multipart/alternative", ["text/plain", "text/html"]],
            "application/pdf",
            "text/csv",
        ],
    ]
    files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert files == {"report.pdf": b"%PDF-1.7 data", "données.csv": "a,b\n1,2\n"}


def test_bcc_goes_to_the_envelope_only() -> None:
    outgoing, msg = parsed(
        Draft(
            sender=SENDER,
            to="Ann <ann@example.com>",
            cc="cat@example.com",
            bcc=["boss@example.com"],
            subject="Hi",
            text="x",
        )
    )
    assert outgoing.recipients == ("ann@example.com", "cat@example.com", "boss@example.com")
    assert msg["Bcc"] is None
    assert b"boss@example.com" not in outgoing.as_bytes()
    assert str(msg["To"]) == "Ann <ann@example.com>" and str(msg["Cc"]) == "cat@example.com"


def test_a_recipient_named_twice_is_sent_to_once() -> None:
    outgoing = build_message(
        Draft(
            sender=SENDER,
            to=["a@example.com", "A@example.com"],
            bcc="a@example.com",
            subject="x",
            text="x",
        ),
        "k",
    )
    assert outgoing.recipients == ("a@example.com",)


def test_message_id_follows_the_key_so_a_resend_is_recognisable() -> None:
    draft = Draft(sender=SENDER, to="ann@example.com", subject="Hi", text="x")
    first, again, other = (build_message(draft, k) for k in ("job:1", "job:1", "job:2"))
    assert first.message_id == again.message_id == make_message_id("job:1", "example.com")
    assert other.message_id != first.message_id
    assert message_from_bytes(first.as_bytes())["Message-ID"] == first.message_id


def test_non_ascii_names_and_subjects_are_encoded_and_survive() -> None:
    outgoing, msg = parsed(
        Draft(
            sender="Équipe Nexus <nexus@example.com>",
            to="Zoë Ødegaard <zoe@example.com>",
            subject=" ".join(["Réunion – ordre du jour"] * 5),
            text="Voilà",
        )
    )
    assert outgoing.as_bytes().isascii()
    assert str(msg["Subject"]) == " ".join(["Réunion – ordre du jour"] * 5)
    assert msg["To"].addresses[0].display_name == "Zoë Ødegaard"
    assert msg.get_content() == "Voilà"
    assert all(len(line) <= 78 for line in outgoing.as_bytes().split(b"\r\n"))


def test_lines_end_in_crlf() -> None:
    data = build_message(
        Draft(sender=SENDER, to="a@example.com", subject="x", text="one\ntwo"), "k"
    ).as_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize("field", ["subject", "attachment"])
def test_a_line_break_in_a_header_field_is_refused(field: str) -> None:
    draft = (
        Draft(sender=SENDER, to="a@example.com", subject="Hi\r\nBcc: x@example.com", text="x")
        if field == "subject"
        else Draft(
            sender=SENDER,
            to="a@example.com",
            subject="Hi",
            text="x",
            attachments=[Attachment("a.pdf\r\nX-Evil: 1", b"x")],
        )
    )
    with pytest.raises(HeaderInjection):
        build_message(draft, "k")


def test_bad_input_is_refused_with_a_sentence() -> None:
    cases = [
        (Draft(sender=SENDER, to=[], subject="x", text="x"), "no recipient"),
        (Draft(sender=SENDER, to="a@example.com", subject="x"), "no body"),
        (
            Draft(
                sender=SENDER,
                to="a@example.com",
                subject="x",
                text="x",
                headers={"Bcc": "x@example.com"},
            ),
            "cannot be set",
        ),
    ]
    for draft, words in cases:
        with pytest.raises(PermanentError, match=words):
            build_message(draft, "k")
    with pytest.raises(InvalidAddress):
        build_message(Draft(sender=SENDER, to="not-an-address", subject="x", text="x"), "k")


def test_attachments_over_the_cap_are_refused() -> None:
    draft = Draft(
        sender=SENDER,
        to="a@example.com",
        subject="x",
        text="x",
        attachments=[Attachment("big.bin", b"x" * 2048)],
    )
    with pytest.raises(PermanentError, match="add up to more than"):
        build_message(draft, "k", max_attachment_bytes=1024)


def test_extra_headers_are_allowed_when_harmless() -> None:
    _, msg = parsed(
        Draft(
            sender=SENDER,
            to="a@example.com",
            subject="x",
            text="x",
            headers={"Auto-Submitted": "auto-generated"},
        )
    )
    assert msg["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize("breaker", ["\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_every_kind_of_line_break_in_a_subject_is_refused(breaker: str) -> None:
    subject = "An update on the plan for every regional office and team" + breaker + "Bcc: x"
    draft = Draft(sender="a@example.com", to="b@example.com", subject=subject, text="x")
    with pytest.raises(HeaderInjection, match="line break"):
        build_message(draft, "k")


def test_a_header_the_email_package_refuses_is_a_permanent_error(monkeypatch) -> None:
    def refuse(self: OutgoingMessage) -> bytes:
        raise HeaderParseError("header value appears to contain an embedded header")

    monkeypatch.setattr(OutgoingMessage, "wire_bytes", property(refuse))
    draft = Draft(sender="a@example.com", to="b@example.com", subject="Hi", text="x")
    with pytest.raises(PermanentError, match="cannot be encoded"):
        build_message(draft, "k")
