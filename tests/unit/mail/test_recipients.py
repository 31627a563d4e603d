from __future__ import annotations

import pytest

from app.errors import PermanentError
from app.mail.recipients import column_variable, from_entries, load_csv


def test_csv_columns_become_template_variables() -> None:
    listing = load_csv(
        b"Email,First Name,Plan\nann@example.com,Ann,Pro\nbob@example.com,Bob,Free\n"
    )
    assert listing.columns == ["email", "first_name", "plan"]
    first = listing.recipients[0]
    assert first.context() == {
        "first_name": "Ann",
        "plan": "Pro",
        "email": "ann@example.com",
        "name": "",
    }
    assert [r.row for r in listing.recipients] == [2, 3]


def test_excel_style_csv_with_bom_and_semicolons_is_read() -> None:
    data = "\ufeffE-mail;Name\nzoe@example.com;Zoë\n".encode()
    listing = load_csv(data)
    assert listing.recipients[0].email == "zoe@example.com"
    assert listing.recipients[0].context()["name"] == "Zoë"


def test_a_windows_code_page_export_is_read() -> None:
    listing = load_csv("email,name\nrene@example.com,René\n".encode("cp1252"))
    assert listing.recipients[0].fields["name"] == "René"


def test_invalid_and_repeated_addresses_are_set_aside_with_reasons() -> None:
    listing = load_csv(b"email,name\nann@example.com,Ann\nnot-an-email,X\n\nANN@example.com,A2\n")
    assert [r.email for r in listing.recipients] == ["ann@example.com"]
    reasons = {r.row: r.reason for r in listing.rejected}
    assert "@" in reasons[3]
    assert reasons[5] == "The address appears earlier in the list."
    assert listing.total == 3


def test_a_csv_without_an_email_column_is_refused_clearly() -> None:
    with pytest.raises(PermanentError, match=r"no email column.*name, city"):
        load_csv(b"name,city\nAnn,Paris\n")
    with pytest.raises(PermanentError, match="no column called 'mail address'"):
        load_csv(b"email\na@example.com\n", email_column="mail address")
    with pytest.raises(PermanentError, match="empty"):
        load_csv(b"")


def test_a_named_column_can_hold_the_addresses() -> None:
    listing = load_csv(b"name,work mail\nAnn,ann@example.com\n", email_column="work mail")
    assert listing.recipients[0].email == "ann@example.com"


def test_entries_can_be_addresses_or_dicts() -> None:
    listing = from_entries(["Ann <ann@example.com>", {"Email": "bob@example.com", "Plan": "Pro"}])
    assert [r.mailbox for r in listing.recipients] == ["Ann <ann@example.com>", "bob@example.com"]
    assert listing.recipients[1].fields == {"plan": "Pro"}


def test_column_names_are_made_into_identifiers() -> None:
    assert column_variable(" First Name ") == "first_name"
    assert column_variable("2024 total (€)") == "c_2024_total"
