"""The web app's side of the Redis-restart test, as its own process: submit jobs on a timer.

    python -m tests.chaos.web_client SECONDS INTERVAL

One long-lived process, as the web app is: its Redis and broker connections must survive the
restart. Each line printed is one submit: {"id": ...} or {"error": ..., "kind": ...}, with
"seconds" the submit took and "at" when it began.
"""

from __future__ import annotations

import json
import sys
import time

from app import jobs
from tests.support.users import TESTER


def main() -> None:
    seconds, interval = float(sys.argv[1]), float(sys.argv[2])
    end = time.time() + seconds
    while time.time() < end:
        began = time.time()
        line: dict = {"at": began}
        try:
            line["id"] = jobs.submit("sample_job", {"steps": 4, "step_seconds": 0.25},
                                     user=TESTER)
        except Exception as exc:  # the test reads what a page would have had to show
            line.update(error=str(exc), kind=type(exc).__name__)
        line["seconds"] = time.time() - began
        print(json.dumps(line), flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    main()
