"""Job kinds and their parameters, read from the task signatures, and checking params by them.

A kind's parameters are its task's `run` arguments after `self`: name, annotation, default.
File parameters (`files`, `attachments`, `csv`) take stored-file refs; a multipart upload
fills them. `check` refuses unknown, missing and mistyped parameters with a sentence naming the
parameter, before anything is stored or queued, so a typo is a 422, not a failed job.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from app import jobs

FILE_PARAMETERS = ("files", "attachments", "csv")
STRICT = ConfigDict(strict=True)


class BadParameters(ValueError):
    """Params that do not fit the kind; `errors` names each parameter with a sentence."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['parameter']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    required: bool
    default: Any
    file: bool
    schema: dict[str, Any]
    adapter: TypeAdapter


@dataclass(frozen=True)
class Kind:
    name: str
    queue: str
    description: str
    parameters: tuple[Parameter, ...]

    @property
    def file_parameters(self) -> list[str]:
        return [p.name for p in self.parameters if p.file]


def _hints(function: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError):
        return {}  # an annotation that does not resolve is checked as Any


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, list, dict)) else None


def _parameter(param: inspect.Parameter, hint: Any) -> Parameter:
    adapter = TypeAdapter(hint, config=STRICT)
    try:
        schema = adapter.json_schema()
    except Exception:
        schema = {}
    required = param.default is inspect.Parameter.empty
    annotation = param.annotation if isinstance(param.annotation, str) else str(hint)
    return Parameter(param.name, annotation.replace("typing.", ""), required,
                     None if required else _jsonable(param.default),
                     param.name in FILE_PARAMETERS, schema, adapter)


def _kind(name: str, task: Any) -> Kind:
    function = task.run
    hints = _hints(function)
    params = [
        _parameter(p, hints.get(p.name, Any))
        for p in inspect.signature(function).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    doc = inspect.getdoc(function) or ""
    module = task.name.rsplit(".", 1)[0]
    from config.celery_config import queue_for_module

    return Kind(name, queue_for_module(module), doc.split("\n\n")[0].strip(), tuple(params))


@lru_cache(maxsize=1)
def kinds() -> dict[str, Kind]:
    """Every kind a person may submit, by name; internal tasks are left out."""
    tasks = jobs.tasks_by_kind()
    return {name: _kind(name, tasks[name]) for name in jobs.kinds()}


def check(kind: Kind, params: dict[str, Any], uploaded: set[str] = frozenset()) -> None:
    """Raise BadParameters unless `params` (plus uploads under `uploaded`) fit the kind."""
    errors: list[dict[str, str]] = []
    known = {p.name: p for p in kind.parameters}
    for name in params:
        if name not in known:
            errors.append({"parameter": name,
                           "message": f"{kind.name} has no parameter called '{name}'."})
    for param in kind.parameters:
        if param.name in params and param.name not in uploaded:
            errors += _type_errors(param, params[param.name])
        elif param.required and param.name not in params and param.name not in uploaded:
            what = "Upload at least one file" if param.file else "Give a value"
            errors.append({"parameter": param.name,
                           "message": f"{kind.name} needs '{param.name}'. {what}."})
    if errors:
        raise BadParameters(errors)


def _type_errors(param: Parameter, value: Any) -> list[dict[str, str]]:
    try:
        param.adapter.validate_python(value)
    except ValidationError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return [{"parameter": param.name,
                 "message": f"'{param.name}' must be {param.type}, not {shown}."}]
    return []
