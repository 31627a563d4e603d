"""Who is calling: `Authorization: Bearer <token>`, a Nexus API token or a provider's JWT.

`caller` is the dependency every /api/v1 route takes; it answers 401 (problem+json, with
`WWW-Authenticate: Bearer`) for a missing, unknown, revoked or expired token. The token itself
is never logged or recorded: the audit log names the token's id, never its secret.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app import tokens
from app.api import oidc
from app.api.problems import Problem
from app.auth import User, local_user
from app.settings import get_settings

bearer = HTTPBearer(auto_error=False, description="A Nexus API token (nexus_...) or an OIDC JWT.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="nexus"'}


def _refused(detail: str) -> Problem:
    return Problem(401, detail, headers=CHALLENGE)


def user_for(secret: str) -> User:
    """The user a bearer secret acts as; Problem(401) otherwise. Blocking: call in a thread."""
    if tokens.looks_like_token(secret):
        try:
            return tokens.authenticate(secret)
        except tokens.TokenRefused as refused:
            raise _refused(str(refused)) from None
    if oidc.looks_like_jwt(secret) and get_settings().auth_mode == "oidc":
        try:
            return oidc.verify(secret)
        except oidc.JwtRefused as refused:
            raise _refused(str(refused)) from None
    raise _refused("This API token is not valid.")


async def caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> User:
    """The acting user of this request."""
    if get_settings().auth_mode == "none":
        return local_user()  # sign-in is off: the one local person, as in the UI
    if credentials is None or not credentials.credentials.strip():
        raise _refused("Send an API token: Authorization: Bearer <token>. Create one on the "
                       "API tokens page.")
    user = await run_in_threadpool(user_for, credentials.credentials.strip())
    request.state.user = user
    return user


def client_of(request: Request) -> str:
    """The caller's address, for the audit log."""
    return request.client.host if request.client else ""
