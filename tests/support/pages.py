"""Pages under Streamlit's AppTest, as a signed-in person would see them."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from app.auth import User
from tests.support.users import TESTER


def claims(user: User) -> dict[str, Any]:
    """What st.user holds after an OIDC sign-in as `user`."""
    groups = ["admins"] if user.is_admin else []
    return {"is_logged_in": True, "email": user.id, "name": user.name, "groups": groups}


def page_test(path: Any, default_timeout: float = 30, user: User = TESTER) -> AppTest:
    """An AppTest of one page file, signed in as `user`."""
    at = AppTest.from_file(str(path), default_timeout=default_timeout)
    at.user = claims(user)
    return at
