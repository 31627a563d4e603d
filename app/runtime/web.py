"""Start the Streamlit app with st.navigation in charge from the very first request.

    python -m app.runtime.web [streamlit options]     # what `streamlit run app.py` would do

Streamlit treats a `pages/` folder as its legacy multipage layout until `st.navigation` has run
once. Without this, a deep link such as /task_monitor opened before anyone loaded "/" would run
that page on its own, without app.py's navigation and layout.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

APP = Path(__file__).resolve().parents[2] / "app.py"


def _load_task_modules() -> None:
    """Import every task module now, so the first job a person submits does not wait for it."""
    from app import jobs

    jobs.tasks_by_kind()


def _option(args: list[str], name: str) -> str | None:
    """The value of `name` in a streamlit command line (`NAME VALUE` or `NAME=VALUE`), if given."""
    for index, arg in enumerate(args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and index + 1 < len(args):
            return args[index + 1]
    return None


def with_upload_cap(args: list[str]) -> list[str]:
    """`args` with Streamlit's upload limit set to MAX_UPLOAD_MB unless they already set one."""
    # Streamlit's own default (200 MB) is above the app's cap, so uploads the app refuses
    # would first be received whole.
    if _option(args, "--server.maxUploadSize") is not None:
        return args
    from app.settings import get_settings

    return [*args, "--server.maxUploadSize", str(get_settings().max_upload_mb)]


def _sign_in_options(args: list[str]) -> list[str]:
    """Write Streamlit's [auth] secrets and point it at them; refuse sign-in off beyond loopback."""
    from app.idp import secrets_file
    from app.settings import get_settings

    settings = get_settings()
    secrets_file.check_auth_mode(settings, _option(args, "--server.address"))
    path = secrets_file.write(settings)
    return ["--secrets.files", str(path)] if path else []


def main() -> None:
    PagesManager.uses_pages_directory = False
    args = with_upload_cap(sys.argv[1:])
    try:
        args += _sign_in_options(args)
    except RuntimeError as exc:
        sys.exit(f"Cannot start Nexus: {exc}")
    threading.Thread(target=_load_task_modules, name="load-task-modules", daemon=True).start()
    sys.argv = ["streamlit", "run", str(APP), *args]
    cli.main()


if __name__ == "__main__":
    main()
