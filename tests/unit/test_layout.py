"""The layout's import rules, checked over the source so a drifting arrow fails a test.

- Domain packages (`app/office`, `app/mail`, `app/ai`, `app/reports`) never reach Celery or
  Streamlit, and only their `store.py` talks to Redis.
- Task modules are adapters: they never call `app.jobs`, the pages' API.
- Pages never import Celery or Redis; they go through `app.jobs`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("office", "mail", "ai", "reports")
QUEUE_SIDE = ("celery", "kombu", "redbeat", "config", "app.tasks", "app.jobs")
UI_SIDE = ("streamlit", "app.ui")
REDIS_SIDE = ("redis", "app.connection", "app.registry")


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, anywhere in it (top level or inside a function)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaches(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f"{f}.") for f in forbidden))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def domain_modules() -> list[Path]:
    return sorted(p for d in DOMAINS for p in (ROOT / "app" / d).rglob("*.py"))


@pytest.mark.parametrize("path", domain_modules(), ids=relative)
def test_domain_code_never_reaches_celery_or_streamlit(path: Path) -> None:
    assert reaches(imported_modules(path), QUEUE_SIDE + UI_SIDE) == []


@pytest.mark.parametrize(
    "path", [p for p in domain_modules() if p.name != "store.py"], ids=relative
)
def test_only_the_store_of_a_domain_talks_to_redis(path: Path) -> None:
    assert reaches(imported_modules(path), REDIS_SIDE) == []


@pytest.mark.parametrize("path", sorted((ROOT / "app" / "tasks").glob("*.py")), ids=relative)
def test_tasks_never_call_the_pages_api(path: Path) -> None:
    assert reaches(imported_modules(path), ("app.jobs",)) == []


@pytest.mark.parametrize("path", sorted((ROOT / "pages").glob("*.py")), ids=relative)
def test_pages_never_import_celery_or_redis(path: Path) -> None:
    assert reaches(imported_modules(path), ("celery", "kombu", "redis", "redbeat")) == []


def test_importing_every_domain_module_loads_neither_celery_nor_streamlit() -> None:
    """The same rule, followed through every import the domain modules make in turn."""
    names = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in domain_modules()
        if p.name != "__main__.py"
    ]
    probe = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'celery', 'streamlit'}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
