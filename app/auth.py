"""Who is acting: a signed-in person, an admin, or the platform itself.

Every `app.jobs` call takes the acting `User`. Pages get it from the signed-in identity
(`app.ui.signin.current_user`), never from a widget, a query string or a job parameter.
A user acts on their own work; an admin acts on everyone's. The platform's own work (beat
dispatchers, maintenance, health checks) belongs to `SYSTEM`, which no person ever is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.settings import Settings, get_settings

SYSTEM_OWNER = "system"


class NotSignedIn(PermissionError):
    """The identity carries no usable email address."""


class NotAllowed(PermissionError):
    """The acting user may not do this; the message is a sentence for them."""


@dataclass(frozen=True)
class User:
    """An acting identity. `id` is the owner every job, file and schedule of theirs carries."""

    id: str
    name: str = ""
    is_admin: bool = False

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def is_system(self) -> bool:
        return self.id == SYSTEM_OWNER

    def owns(self, owner: str | None) -> bool:
        """True when this user may see and act on work belonging to `owner`."""
        return self.is_admin or (owner is not None and owner == self.id)

    def scope(self) -> str | None:
        """The owner to filter listings by: None (everyone) for an admin."""
        return None if self.is_admin else self.id


SYSTEM = User(SYSTEM_OWNER, "Nexus", is_admin=True)


def owner_id(email: str) -> str:
    """The owner key of a person: their email address, trimmed and lowercased."""
    return email.strip().lower()


def _groups(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {part.strip() for part in value.replace(",", " ").split() if part.strip()}
    if isinstance(value, Mapping):  # Keycloak-style {"roles": [...]}
        return _groups(value.get("roles"))
    if isinstance(value, Iterable):
        return {str(item).strip().lstrip("/") for item in value}
    return {str(value)}


def user_from_claims(claims: Mapping[str, Any], settings: Settings | None = None) -> User:
    """The user an OIDC identity describes; admins by group/role claim or AUTH_ADMINS."""
    settings = settings or get_settings()
    email = claims.get("email")
    if not email or not isinstance(email, str) or "@" not in email:
        raise NotSignedIn("Your sign-in did not include an email address.")
    uid = owner_id(email)
    if uid == SYSTEM_OWNER:
        raise NotSignedIn("That account name is reserved.")
    groups = _groups(claims.get(settings.auth_roles_claim))
    admin = uid in {owner_id(a) for a in settings.auth_admins} or bool(
        groups & set(settings.auth_admin_groups)
    )
    name = claims.get("name") or claims.get("preferred_username") or ""
    return User(uid, str(name), is_admin=admin)


def local_user(settings: Settings | None = None) -> User:
    """The single person of AUTH_MODE=none: the local owner, with every right."""
    settings = settings or get_settings()
    return User(settings.default_owner, "Local user", is_admin=True)
