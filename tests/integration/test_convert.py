"""Office -> PDF and legacy formats with real LibreOffice: cold soffice and a warm unoserver."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import jobs, storage
from app.office import libreoffice, pdf
from tests.support.processes import ROOT, start_worker
from tests.support.users import ADMIN, TESTER
from tests.unit.office import samples

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_listening(port: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not listening(port):
        assert time.monotonic() < deadline, "unoserver did not start"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def unoserver(port: int, session_dir: Path):
    """`python -m app.runtime.unoserver`, the command `make run` starts."""
    env = {**os.environ, "UNOSERVER_PORT": str(port), "PYTHONPATH": str(ROOT)}
    log = open(session_dir / f"unoserver-{port}.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "app.runtime.unoserver"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    wait_listening(port)
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def office_worker(port: int, session_dir: Path):
    """A files worker that knows where the warm LibreOffice listens."""
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    proc = start_worker(logs, queues=("files", "maintenance"),
                        env={"UNOSERVER_PORT": str(port)})
    yield proc
    proc.stop()


def run(kind: str, params: dict, *paths: Path, timeout: float = 180) -> dict:
    job_id = jobs.submit(kind, params, files=[(p.name, p.read_bytes()) for p in paths],
                         user=TESTER)
    return jobs.wait(job_id, timeout=timeout, user=ADMIN)


def test_a_docx_becomes_a_pdf_with_its_pages_and_text(office_worker, tmp_path: Path) -> None:
    record = run("process_word_document", {"operations": ["to_pdf"]},
                 samples.word_document(tmp_path / "report.docx"))
    assert record["state"] == "SUCCESS", record["error"]
    made = record["result"]["files"][0]["operations"]["to_pdf"]
    assert (made["name"], made["pages"]) == ("report.pdf", 2)
    pages = pdf.page_texts(storage.outputs_dir(record["id"]) / "report.pdf")
    assert "Sales grew strongly this quarter." in pages[0]
    assert "Second page text." in pages[1]


def test_a_doc_written_by_libreoffice_is_read_like_a_docx(
    office_worker, tmp_path: Path
) -> None:
    legacy = tmp_path / "old-report.doc"
    libreoffice.convert_cold(samples.word_document(tmp_path / "report.docx"), legacy, 120)
    record = run("process_word_document", {"operations": ["extract_text", "count_stats"]},
                 legacy)
    assert record["state"] == "SUCCESS", record["error"]
    entry = record["result"]["files"][0]
    assert entry["converted_from"] == "doc"
    assert "Sales grew strongly this quarter." in entry["operations"]["extract_text"]["preview"]
    assert entry["operations"]["count_stats"]["tables"] == 1


def test_an_xls_and_an_odp_are_processed_too(office_worker, tmp_path: Path) -> None:
    sheet = tmp_path / "sales.xls"
    libreoffice.convert_cold(samples.excel_workbook(tmp_path / "sales.xlsx"), sheet, 120)
    deck = tmp_path / "launch.odp"
    libreoffice.convert_cold(samples.presentation(tmp_path / "launch.pptx"), deck, 120)
    record = run("batch_process_files", {"operations": ["analyze", "extract_text"]}, sheet, deck)
    assert record["state"] == "SUCCESS", record["error"]
    by_file = {entry["file"]: entry for entry in record["result"]["files"]}
    assert by_file["sales.xls"]["ok"] and by_file["sales.xls"]["type"] == "xlsx"
    assert by_file["launch.odp"]["ok"] and by_file["launch.odp"]["type"] == "pptx"


def office_pids(port: int) -> list[str]:
    """The LibreOffice behind unoserver: the process listening on the UNO port."""
    found = subprocess.run(["pgrep", "-f", f"soffice.bin.*port={port + 1}"],
                           capture_output=True, text=True, check=False)
    return found.stdout.split()


def test_serve_keeps_a_libreoffice_and_restarts_it_when_it_dies(
    unoserver, port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNOSERVER_PORT", str(port))
    from app.settings import get_settings

    get_settings.cache_clear()
    try:
        workbook = samples.excel_workbook(tmp_path / "sales.xlsx")
        # Debian 12's nogui LibreOffice aborts when unoserver opens a document in a frame;
        # the conversion is then made cold, and the answer is the same either way.
        assert libreoffice.convert(workbook, tmp_path / "first.pdf") in ("unoserver", "soffice")
        assert "North" in "".join(pdf.page_texts(tmp_path / "first.pdf"))
        deadline = time.monotonic() + 90
        while not office_pids(port):
            assert time.monotonic() < deadline, "no LibreOffice behind unoserver"
            time.sleep(0.5)
        before = office_pids(port)
        for pid in before:
            os.kill(int(pid), signal.SIGKILL)  # LibreOffice crashes
        while not (office_pids(port) and set(office_pids(port)) != set(before)):
            assert time.monotonic() < deadline, "LibreOffice was not started again"
            time.sleep(0.5)
        assert unoserver.poll() is None
        wait_listening(port)
        assert libreoffice.convert(workbook, tmp_path / "again.pdf") in ("unoserver", "soffice")
        assert "North" in "".join(pdf.page_texts(tmp_path / "again.pdf"))
    finally:
        get_settings.cache_clear()
