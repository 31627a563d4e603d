"""Office -> PDF and legacy formats through LibreOffice, kept warm by unoserver.

    python -m app.runtime.unoserver            # a warm LibreOffice; restarted when it crashes
    libreoffice.convert(Path("old.doc"), Path("old.docx"))   # through it, or a cold soffice

LibreOffice is optional: without `soffice` a conversion fails with the command that installs
it. With a unoserver listening on UNOSERVER_PORT a conversion takes a fraction of a second;
without one, each file starts a cold `soffice --convert-to` (seconds), so a worker started
on its own still converts, and a document the warm one fails on (Debian 12's nogui Writer
aborts when a document is opened in a frame) is converted cold instead. A file lock lets one
conversion at a time reach a unoserver (it handles one document at a time), every conversion
has a timeout, and the LibreOffice profile Nexus starts with disables macros outright, on top
of unoserver opening files read-only.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.errors import PermanentError
from app.settings import get_settings

log = logging.getLogger(__name__)

INSTALL_COMMAND = (
    "apt-get install -y --no-install-recommends libreoffice-writer-nogui "
    "libreoffice-calc-nogui libreoffice-impress-nogui python3-uno"
)
MISSING = (
    "Converting Office files needs LibreOffice, which this worker does not have. Install it "
    f"on the worker (as root): {INSTALL_COMMAND}"
)
# The Python that can `import uno`: Debian's python3-uno belongs to the system interpreter.
UNO_PYTHONS = ("/usr/bin/python3", "/usr/lib/libreoffice/program/python")
LOCK_WAIT = 0.2

# Macros off whatever a document asks: execution disabled, security level "very high" and
# no trusted locations. Written into the profile before LibreOffice first reads it.
_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
 <prop oor:name="SecureURL" oor:op="fuse"><value/></prop></item>
</oor:items>
"""


def soffice() -> str | None:
    """The LibreOffice program, or None when it is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def require_soffice() -> str:
    program = soffice()
    if program is None:
        raise PermanentError(MISSING)
    return program


def prepare_profile(folder: Path) -> Path:
    """A LibreOffice user profile (the folder) with macros disabled."""
    user = folder / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(_PROFILE, encoding="utf-8")
    return folder.resolve()


# converting ------------------------------------------------------------------------------------


def convert(source: Path, target: Path, timeout: float | None = None) -> str:
    """Convert `source` into `target` (the format is `target`'s extension); returns the route.

    Through the warm unoserver when one answers ("unoserver"), else a cold soffice
    ("soffice"). Raises PermanentError for a file LibreOffice cannot convert or that takes
    longer than `timeout` seconds.
    """
    require_soffice()
    settings = get_settings()
    timeout = timeout or settings.office_convert_timeout
    if _listening(settings.unoserver_port):
        try:
            with _one_at_a_time(settings.unoserver_port):
                _convert_warm(source, target, settings.unoserver_port, timeout)
            return "unoserver"
        except _WarmFailed as failed:
            # A document that brings the warm LibreOffice down (serve() restarts it) still
            # gets its answer from a fresh one.
            log.warning("unoserver could not convert %s (%s); using soffice", source.name, failed)
    convert_cold(source, target, timeout)
    return "soffice"


class _WarmFailed(Exception):
    """The warm server refused or lost a conversion; a cold soffice may still do it."""


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def _one_at_a_time(port: int) -> Iterator[None]:
    """A lock every process of this machine shares for one unoserver."""
    folder = get_settings().var_dir / "run"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"unoserver-{port}.lock", "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(LOCK_WAIT)  # polled, so a soft time limit can still interrupt
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _TimedTransport(xmlrpc.client.Transport):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host):  # type: ignore[no-untyped-def]
        connection = super().make_connection(host)
        connection.timeout = self.timeout
        return connection


def _convert_warm(source: Path, target: Path, port: int, timeout: float) -> None:
    proxy = xmlrpc.client.ServerProxy(
        f"http://127.0.0.1:{port}", allow_none=True, transport=_TimedTransport(timeout + 5)
    )
    fmt = target.suffix.lstrip(".")
    try:
        # unoserver API 3: inpath, indata, outpath, convert_to, filtername, filter_options,
        # update_index, infiltername, password.
        proxy.convert(str(source.resolve()), None, str(target.resolve()), fmt, None, [], True,
                      None, None)
    except xmlrpc.client.Fault as fault:
        raise _WarmFailed(fault.faultString.strip()[-200:]) from None
    except TimeoutError:
        raise PermanentError(_too_slow(timeout)) from None
    except (OSError, xmlrpc.client.ProtocolError) as exc:  # it went away mid-conversion
        raise _WarmFailed(str(exc)) from None
    if not target.is_file() or target.stat().st_size == 0:
        raise _WarmFailed("no output")


def convert_cold(source: Path, target: Path, timeout: float) -> None:
    """One `soffice --convert-to` in a fresh macro-less profile, killed after `timeout`."""
    program = require_soffice()
    with tempfile.TemporaryDirectory(prefix="nexus-soffice-") as work:
        profile = prepare_profile(Path(work) / "profile").as_uri()
        outdir = Path(work) / "out"
        fmt = target.suffix.lstrip(".")
        command = [program, f"-env:UserInstallation={profile}", "--headless", "--invisible",
                   "--nologo", "--norestore", "--nolockcheck", "--convert-to", fmt,
                   "--outdir", str(outdir), str(source.resolve())]
        try:
            subprocess.run(command, capture_output=True, timeout=timeout, check=False,
                           start_new_session=True)
        except subprocess.TimeoutExpired:
            raise PermanentError(_too_slow(timeout)) from None
        made = outdir / f"{source.stem}.{fmt}"
        if not made.is_file() or made.stat().st_size == 0:
            raise PermanentError(_refusal(source, "no output"))
        shutil.move(made, target)


def _refusal(source: Path, detail: str) -> str:
    return (
        f"LibreOffice could not convert this file; it may be damaged or protected "
        f"({detail.strip().splitlines()[-1][:160] if detail.strip() else 'no detail'})."
    )


def _too_slow(timeout: float) -> str:
    return f"LibreOffice took longer than {timeout:.0f} seconds on this file and was stopped."


# the warm server -----------------------------------------------------------------------------


def uno_python() -> str | None:
    """An interpreter that has LibreOffice's `uno` module."""
    for candidate in UNO_PYTHONS:
        if Path(candidate).is_file() and subprocess.run(
            [candidate, "-c", "import uno"], capture_output=True, check=False
        ).returncode == 0:
            return candidate
    return None


def server_command(profile: Path) -> tuple[list[str], dict[str, str]]:
    """unoserver's command line and environment: run by the Python that has `uno`."""
    import unoserver  # the package from requirements.txt; only its folder is lent out

    python = uno_python()
    if python is None:
        raise PermanentError(f"LibreOffice's Python bridge is missing. Install: {INSTALL_COMMAND}")
    settings = get_settings()
    command = [
        python, "-m", "unoserver.server", "--interface", "127.0.0.1",
        "--port", str(settings.unoserver_port), "--uno-port", str(settings.unoserver_port + 1),
        "--user-installation", str(profile),
        "--conversion-timeout", str(int(settings.office_convert_timeout)),
        "--executable", require_soffice(),
    ]
    # Only unoserver's own folder on the path: the venv's other packages stay out of the way.
    lend = Path(tempfile.mkdtemp(prefix="nexus-unoserver-"))
    (lend / "unoserver").symlink_to(Path(unoserver.__file__).parent)
    for info in Path(unoserver.__file__).parent.parent.glob("unoserver-*.dist-info"):
        (lend / info.name).symlink_to(info)
    return command, {**os.environ, "PYTHONPATH": str(lend)}
