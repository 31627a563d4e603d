"""Who is signed in, on the Streamlit side: st.user (OIDC through st.login) to an `app.auth.User`.

`require_sign_in()` runs before any page: a signed-out visitor sees the sign-in screen and
nothing else, because it ends the script run with st.stop().
"""

from __future__ import annotations

import streamlit as st

from app import audit
from app.auth import NotSignedIn, User, local_user, user_from_claims
from app.settings import get_settings
from app.ui.client import client_address

SESSION_KEY = "user"


def _signed_in() -> bool:
    return bool(getattr(st.user, "is_logged_in", False))


def current_user() -> User:
    """The acting user of this session; raises NotSignedIn for a signed-out visitor."""
    settings = get_settings()
    if settings.auth_mode == "none":
        return local_user(settings)
    if not _signed_in():
        raise NotSignedIn("Sign in to use Nexus.")
    return user_from_claims(st.user.to_dict(), settings)


def sign_in_screen(message: str = "") -> None:
    """The whole page for a signed-out visitor: a title, one sentence, a Sign in button."""
    st.title("Nexus")
    st.write(message or "Sign in with your company account to use Nexus.")
    if st.button("Sign in", type="primary"):
        st.login()


def require_sign_in() -> User:
    """The signed-in user; otherwise draw the sign-in screen and stop the script run."""
    if get_settings().auth_mode == "none":
        st.warning("Sign-in is off (AUTH_MODE=none): everyone who reaches this page acts as "
                   "the local user.", icon=":material/lock_open:")
        user = local_user()
    else:
        try:
            user = current_user()
        except NotSignedIn as exc:
            if _signed_in():
                # The provider let them in, but the identity is unusable here: say why, and log it.
                identity = str(st.user.to_dict().get("sub") or "unknown")
                audit.record_sign_in(identity, client=client_address(), refused=str(exc))
            sign_in_screen("" if not _signed_in() else f"{exc} Ask an administrator.")
            st.stop()
            raise  # st.stop() ends the run; this line is never reached
    if st.session_state.get(SESSION_KEY) != user:
        # Once per browser session, not on every rerun.
        audit.record_sign_in(user, client=client_address())
    st.session_state[SESSION_KEY] = user
    return user


def sidebar(user: User) -> None:
    """Who is signed in, with an admin badge, and a Sign out button."""
    with st.sidebar:
        badge = " :blue-badge[admin]" if user.is_admin else ""
        st.markdown(f"**{user.label}**{badge}")
        st.caption(user.id)
        if get_settings().auth_mode != "none" and st.button("Sign out", key="sign-out"):
            st.logout()
