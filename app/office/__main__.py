"""python -m app.office FILE... [--ops OP ...] [--password PW] [--out DIR] [--set KEY=VALUE ...]

Runs the same code the files queue runs, without Celery, and prints one JSON object per file
and line: {"file", "type", "ok", "error", "operations", "outputs", ...}. A refused file is a
line with ok false and the sentence a user would see. The exit code is 0 when every file was
handled (processed or refused), 1 when a file hit an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from app.errors import PermanentError
from app.office import guard, runner
from app.office.outputs import Progress, no_progress


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app.office", description="Process office files without the queue."
    )
    parser.add_argument(
        "files", nargs="+", type=Path, help="Word, Excel, PowerPoint, PDF or image files"
    )
    parser.add_argument(
        "--ops",
        nargs="+",
        default=None,
        metavar="OP",
        help="operations to run (defaults per type); ones a type does not offer are skipped",
    )
    parser.add_argument("--password", default=None, help="password for encrypted PDFs")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: a temp dir)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="settings",
        help="an option such as ranges=1-3,5 or thumbnail_size=128 or group_by=Region",
    )
    parser.add_argument("--progress", action="store_true", help="print progress to stderr")
    return parser.parse_args(argv)


def options_from(settings: list[str], password: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set needs KEY=VALUE, not {item!r}")
        options[key.strip()] = value.strip()
    if "formats" in options:
        options["formats"] = [f for f in options["formats"].split(",") if f]
    if password:
        options["password"] = password
    return options


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = options_from(args.settings, args.password)
    out_root = args.out or Path(tempfile.mkdtemp(prefix="nexus-office-"))
    progress = _stderr_progress if args.progress else no_progress
    per_file_ops = [op for op in args.ops or [] if op != "merge"] or None
    merging = bool(args.ops) and "merge" in args.ops
    failed = False
    if per_file_ops or not merging:
        for path in args.files:
            line, crashed = handle(path, out_root, per_file_ops, options, progress)
            failed |= crashed
            emit(line)
    if merging:
        line, crashed = handle_merge(args.files, out_root, options.get("password"), progress)
        failed |= crashed
        emit(line)
    return 1 if failed else 0


def handle(
    path: Path, out_root: Path, ops: list[str] | None, options: dict[str, Any], progress: Progress
) -> tuple[dict[str, Any], bool]:
    """One file's JSON line and whether it hit an unexpected error."""
    line: dict[str, Any] = {"file": str(path), "type": None, "ok": False, "error": None}
    try:
        if not path.is_file():
            raise PermanentError("There is no such file.")
        line["type"] = guard.family_of_file(path)
        result = runner.process_file(
            path,
            out_root / path.name,
            operations=ops,
            options=options,
            progress=progress,
            strict=False,
        )
    except PermanentError as exc:
        line["error"] = str(exc)
        return line, False
    except Exception as exc:  # a bug, not a refusal: say so and make the exit code show it
        line["error"] = f"Unexpected error ({type(exc).__name__}): {exc}"
        line["traceback"] = traceback.format_exc()
        return line, True
    result.pop("file", None)
    line.update(result, ok=True, out_dir=str(out_root / path.name))
    return line, False


def handle_merge(
    paths: list[Path], out_root: Path, password: str | None, progress: Progress
) -> tuple[dict[str, Any], bool]:
    pdfs = [p for p in paths if p.is_file() and guard.family_of_file(p) == "pdf"]
    line: dict[str, Any] = {
        "file": [str(p) for p in pdfs],
        "type": "pdf",
        "ok": False,
        "error": None,
    }
    try:
        line.update(
            runner.merge_pdfs(pdfs, out_root, password=password, progress=progress), ok=True
        )
    except PermanentError as exc:
        line["error"] = str(exc)
    except Exception as exc:
        line["error"] = f"Unexpected error ({type(exc).__name__}): {exc}"
        return line, True
    line["out_dir"] = str(out_root)
    return line, False


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _stderr_progress(current: int, total: int, message: str) -> None:
    sys.stderr.write(f"[{current}/{total}] {message}\n")


if __name__ == "__main__":
    sys.exit(main())
