"""Home of the web app under Streamlit's AppTest, in its own process (its own REDIS_URL).

    python -m tests.chaos.page_probe

Prints {"warnings": [...], "exceptions": [...]}: what the signed-in person sees.
"""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.support.pages import claims
from tests.support.processes import ROOT
from tests.support.users import TESTER


def main() -> None:
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    page.user = claims(TESTER)
    page.run()
    print(json.dumps({"warnings": [w.value for w in page.warning],
                      "exceptions": [e.value for e in page.exception]}))


if __name__ == "__main__":
    main()
