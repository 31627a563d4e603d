from __future__ import annotations

from app.mail.htmltext import html_to_text


def test_text_keeps_paragraphs_breaks_lists_and_link_targets() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<h1>Hello &amp; welcome</h1><p>Dear <b>Ann</b>,<br>see <a href='https://x.io/a'>this</a>"
        " or <a href='https://y.io'>https://y.io</a>.</p><ul><li>one</li><li>two</li></ul>"
        "<script>alert(1)</script></body></html>"
    )
    assert html_to_text(html) == (
        "Hello & welcome\n\nDear Ann,\nsee this (https://x.io/a) or https://y.io.\n\n- one\n- two\n"
    )


def test_preformatted_text_keeps_its_spacing() -> None:
    assert html_to_text("<pre>a  b\n  c</pre>") == "a  b\n  c\n"


def test_empty_html_gives_empty_text() -> None:
    assert html_to_text("") == ""
    assert html_to_text("<style>x</style>") == ""
