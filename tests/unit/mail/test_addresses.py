from __future__ import annotations

import pytest

from app.errors import PermanentError
from app.mail.addresses import (
    HeaderInjection,
    InvalidAddress,
    check_header,
    parse_address,
    parse_addresses,
    split_addresses,
)


def test_plain_and_named_addresses_are_normalised() -> None:
    assert str(parse_address("ann@Example.COM")) == "ann@example.com"
    box = parse_address('"Doe, Jane" <jane@example.org>')
    assert (box.name, box.address) == ("Doe, Jane", "jane@example.org")


def test_an_international_domain_is_sent_in_its_ascii_form() -> None:
    assert parse_address("jo@bücher.de").address == "jo@xn--bcher-kva.de"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "a b@example.com",
        "ann@example",
        "ann@localhost",
        "josé@example.com",
    ],
)
def test_invalid_addresses_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(text)
    assert "is not a valid email address" in str(caught.value)
    assert isinstance(caught.value, PermanentError)


def test_only_the_configured_sender_may_use_a_local_host_name() -> None:
    assert parse_address("Nexus <nexus@localhost>", local_domain_ok=True).address == (
        "nexus@localhost"
    )
    with pytest.raises(InvalidAddress):
        parse_address("nexus@localhost")


@pytest.mark.parametrize("value", ["Hi\r\nBcc: evil@example.com", "Hi\nthere", "a\rb", "nul\0"])
def test_line_breaks_in_a_header_are_refused(value: str) -> None:
    with pytest.raises(HeaderInjection, match="line break"):
        check_header("subject", value)


def test_an_address_carrying_a_header_is_refused() -> None:
    with pytest.raises(HeaderInjection):
        parse_address("ann@example.com\r\nBcc: evil@example.com")


def test_lists_split_on_commas_semicolons_and_lines_but_not_inside_names() -> None:
    text = '"Doe, Jane" <jane@example.org>, bob@example.com; carl@example.com\ndee@example.com'
    assert split_addresses(text) == [
        '"Doe, Jane" <jane@example.org>',
        "bob@example.com",
        "carl@example.com",
        "dee@example.com",
    ]
    assert [b.address for b in parse_addresses(["a@example.com, b@example.com"])] == [
        "a@example.com",
        "b@example.com",
    ]
    assert parse_addresses(None) == []


def test_a_header_smuggled_into_an_address_list_is_an_invalid_address() -> None:
    with pytest.raises(InvalidAddress):
        parse_addresses("ann@example.com\nBcc: evil@example.com")
