"""`python -m app.runtime.unoserver`: a warm LibreOffice for conversions, kept running.

`make run` starts it when `soffice` is installed. It runs unoserver on UNOSERVER_PORT with
the macro-free profile `app.office.libreoffice` prepares, and starts it again whenever
LibreOffice dies, until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from app.office.libreoffice import prepare_profile, require_soffice, server_command
from app.settings import get_settings

RESTART_PAUSE = 2.0


def serve() -> int:
    """Run unoserver until SIGTERM, starting it again whenever LibreOffice dies."""
    require_soffice()
    profile = prepare_profile(get_settings().var_dir / "libreoffice")
    command, env = server_command(profile)
    child: subprocess.Popen | None = None
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        child = subprocess.Popen(command, env=env)
        code = child.wait()
        if not stopping:
            print(f"unoserver exited ({code}); starting it again", file=sys.stderr, flush=True)
            time.sleep(RESTART_PAUSE)
    return 0


if __name__ == "__main__":
    sys.exit(serve())
