"""Start the Streamlit app with st.navigation in charge from the very first request.

    python -m app.web [streamlit options]     # what `streamlit run app.py` would do

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

APP = Path(__file__).resolve().parent.parent / "app.py"


def _load_task_modules() -> None:
    """Import every task module now, so the first job a person submits does not wait for it."""
    from app import jobs

    jobs.tasks_by_kind()


def main() -> None:
    PagesManager.uses_pages_directory = False
    threading.Thread(target=_load_task_modules, name="load-task-modules", daemon=True).start()
    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
