"""Start the Streamlit app with st.navigation in charge from the very first request.

    python -m app.web [streamlit options]     # what `streamlit run app.py` would do

Streamlit treats a `pages/` folder as its legacy multipage layout until `st.navigation` has run
once. Without this, a deep link such as /task_monitor opened before anyone loaded "/" would run
that page on its own, without app.py's navigation and layout.
"""

from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

APP = Path(__file__).resolve().parent.parent / "app.py"


def main() -> None:
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
