"""The commands `make run` starts: what each process is told."""

from __future__ import annotations

from app.runtime.processes import all_commands, streamlit_command, worker_command, worker_plans


def test_streamlit_runs_without_a_file_watcher() -> None:
    command = streamlit_command()
    # A watcher walks .venv and every job folder, and reloads pages while jobs write files.
    assert command[command.index("--server.fileWatcherType") + 1] == "none"
    assert command[command.index("--server.runOnSave") + 1] == "false"


def test_make_run_starts_the_api_beside_the_web_app() -> None:
    commands = all_commands()
    assert commands["api"][-2:] == ["-m", "app.api"]
    assert "streamlit" in commands


def test_long_queues_reserve_nothing_ahead_and_short_ones_prefetch() -> None:
    """A long files or OCR job never holds a message another worker could run."""
    for queue, plan in worker_plans().items():
        command = worker_command(queue)
        assert command[command.index("--prefetch-multiplier") + 1] == str(plan.prefetch)
        if queue in ("files", "ocr", "reports", "ai"):
            assert plan.prefetch == 1, queue
    assert worker_plans()["maintenance"].prefetch > 1
