"""Every code example in the README and docs/ works as written.

Python blocks run against a real worker; a block marked `<!-- excerpt: PATH -->` must appear
verbatim in that file; the curl example runs against a live API; and every command line the
docs show names a command, subcommand and options that really exist.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from app.auth import User
from tests.support.api import serve_api, token_for
from tests.support.processes import ROOT
from tests.unit.office.samples import pdf_document

pytestmark = pytest.mark.integration
DOCS = [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- excerpt: (?P<excerpt>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```",
                   re.DOTALL)
NEXUS = Path(sys.executable).parent / "nexus"  # make install puts it beside python


@dataclass
class Example:
    doc: str
    lang: str
    body: str
    excerpt: str | None

    def __str__(self) -> str:
        return f"{self.doc}:{self.lang}:{self.body.splitlines()[0][:40]}"


def examples(lang: str) -> list[Example]:
    found = []
    for doc in DOCS:
        for match in BLOCK.finditer(doc.read_text()):
            if match["lang"] == lang:
                found.append(Example(doc.name, lang, match["body"], match["excerpt"]))
    return found


def command_lines(body: str) -> list[list[str]]:
    """The commands of a shell block: comments dropped, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", body)
    lines = [line.split("  #")[0].split(" # ")[0].strip() for line in text.splitlines()]
    return [shlex.split(line.replace("[", "").replace("]", "")) for line in lines
            if line and not line.startswith("#")]


@pytest.mark.parametrize("example", [e for e in examples("python") if e.excerpt], ids=str)
def test_an_excerpt_is_the_code_itself(example: Example) -> None:
    assert example.body.strip() in (ROOT / example.excerpt).read_text()


@pytest.mark.parametrize("example", [e for e in examples("python") if not e.excerpt], ids=str)
def test_a_python_example_runs(example: Example, worker, tmp_path: Path) -> None:
    pdf_bytes = pdf_document(tmp_path / "a.pdf").read_bytes()
    scope = {"pdf_bytes": pdf_bytes}
    exec(compile(example.body, str(example), "exec"), scope)
    if "record" in scope:
        assert scope["record"]["state"] == "SUCCESS", scope["record"].get("error")


@pytest.fixture(scope="module")
def api(session_dir: Path):
    yield from serve_api(session_dir)


def test_the_curl_example_submits_a_job(api, worker, tmp_path: Path) -> None:
    [example] = [e for e in examples("bash") if "curl " in e.body]
    pdf_document(tmp_path / "report.pdf")
    token = token_for(User("docs@example.org", "Docs"))
    script = example.body.replace("http://127.0.0.1:8000", api.url)
    answer = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env={"NEXUS_TOKEN": token, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    )
    job = httpx.get(f"{api.url}/api/v1/jobs/{_json_id(answer.stdout)}",
                    headers={"Authorization": f"Bearer {token}"}).json()
    assert job["kind"] == "process_pdf" and job["owner"] == "docs@example.org"


def _json_id(text: str) -> str:
    return re.search(r'"id"\s*:\s*"([^"]+)"', text).group(1)


def _options(words: list[str]) -> list[str]:
    return [w.split("=")[0] for w in words if w.startswith("-")]


def _help(command: list[str]) -> str:
    done = subprocess.run([*command, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"{shlex.join(command)} --help: {done.stderr[-500:]}"
    return done.stdout


SHELL_LINES = [line for e in examples("bash") for line in command_lines(e.body)
               if "curl" not in line]


@pytest.mark.parametrize("words", SHELL_LINES, ids=shlex.join)
def test_a_documented_command_exists_with_its_options(words: list[str]) -> None:
    program = words[0]
    if program == "make":
        assert re.search(rf"^{words[1]}:", (ROOT / "Makefile").read_text(), re.MULTILINE)
    elif program == "./celery_worker.sh":
        assert re.search(rf"\b{words[1]}\)", (ROOT / "celery_worker.sh").read_text())
    elif program == "docker":
        services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
        scaled = [w.split("=")[0] for w in words if "=" in w and not w.startswith("-")]
        assert all(name in services for name in scaled), scaled
    elif program == "nexus":
        usage = _help([str(NEXUS), words[1]])
        assert all(option in usage for option in _options(words)), usage
    elif program.endswith("python"):
        module_at = words.index("-m") + 1
        subcommands = [w for w in words[module_at + 1:] if re.fullmatch(r"[a-z]+", w)][:2]
        usage = _help([sys.executable, "-m", words[module_at], *subcommands])
        assert all(option in usage for option in _options(words)), usage
    else:
        pytest.fail(f"the docs show a command this test does not know: {shlex.join(words)}")
