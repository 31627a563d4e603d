"""/api/v1/kinds: every job kind a person may submit, with its parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api import signatures
from app.api.auth import caller
from app.api.models import Kind, Parameter
from app.api.problems import responses
from app.auth import User

router = APIRouter(prefix="/api/v1", tags=["kinds"])


@router.get("/kinds", response_model=list[Kind], response_model_by_alias=True,
            responses=responses(401))
def list_kinds(user: Annotated[User, Depends(caller)]) -> list[Kind]:
    """Each kind with its parameters' names, types, defaults and JSON schemas, read from the
    task signatures. File parameters take uploads under their own name."""
    return [
        Kind(name=k.name, queue=k.queue, description=k.description, parameters=[
            Parameter(name=p.name, type=p.type, required=p.required, default=p.default,
                      file=p.file, schema=p.schema)
            for p in k.parameters
        ])
        for k in signatures.kinds().values()
    ]
