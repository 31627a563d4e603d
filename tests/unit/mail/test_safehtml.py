"""Inbox HTML keeps its formatting and loses everything active or tracking."""

from __future__ import annotations

from app.mail.safehtml import sanitise_html

PIXEL = "data:image/png;base64,iVBORw0KGgo="


def test_style_form_and_script_are_removed() -> None:
    html = (
        "<style>body{display:none}</style><p style='color:red'>Hi <b>Ann</b></p>"
        "<form action='https://evil.example/login'><input name='password'>"
        "<button>Sign in</button></form><script>alert(1)</script>"
        "<iframe src='https://evil.example'></iframe>"
    )
    clean = sanitise_html(html)
    for banned in ("<style", "display:none", "style=", "<form", "<input", "<button",
                   "<script", "alert(1)", "<iframe", "evil.example"):
        assert banned not in clean
    assert "<p>Hi <b>Ann</b></p>" in clean


def test_remote_and_relative_images_lose_their_source() -> None:
    clean = sanitise_html(
        '<img src="https://track.example/open.gif?u=ann" alt="logo">'
        '<img src="HTTP://track.example/x.png"><img src="//track.example/y.png">'
        '<img src="/media/z.png">'
    )
    assert "track.example" not in clean and "/media/" not in clean
    assert 'alt="logo"' in clean


def test_inline_images_stay() -> None:
    assert f'src="{PIXEL}"' in sanitise_html(f'<img src="{PIXEL}" alt="dot">')


def test_links_stay_but_script_and_data_links_do_not() -> None:
    clean = sanitise_html(
        '<a href="https://example.com/a">ok</a><a href="javascript:alert(1)">js</a>'
        '<a href="data:text/html,<script>alert(1)</script>">data</a>'
        '<a href="mailto:ann@example.com" onclick="steal()">mail</a>'
    )
    assert 'href="https://example.com/a"' in clean and 'rel="noopener noreferrer' in clean
    assert "javascript:" not in clean and "data:text" not in clean and "onclick" not in clean
    assert 'href="mailto:ann@example.com"' in clean
