"""Where the person at the browser is: the address the audit log records for their actions."""

from __future__ import annotations

import streamlit as st


def client_address() -> str:
    """The browser's IP address as Streamlit saw it; empty when unknown (tests, bare scripts)."""
    try:
        address = st.context.ip_address
        # Streamlit hides loopback addresses (None); a browser session still sends its headers.
        if address is None and st.context.headers.get("Host"):
            return "127.0.0.1"
        return str(address or "")
    except Exception:  # outside a browser session there is no context to read
        return ""
