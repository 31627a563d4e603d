"""Sign-in configuration: Streamlit's secrets file, AUTH_MODE=none on loopback only, roles."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.auth import NotSignedIn, user_from_claims
from app.idp import secrets_file, state
from app.settings import Settings


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path / "var",
                    auth_secrets_file=tmp_path / ".streamlit" / "secrets.toml", **values)


def test_company_provider_secrets_file_is_private_and_complete(tmp_path: Path) -> None:
    s = settings(tmp_path, oidc_metadata_url="https://login.example.com/.well-known/openid-configuration",
                 oidc_client_id="nexus", oidc_client_secret="s3cret",
                 oidc_redirect_uri="https://nexus.example.com/oauth2callback",
                 auth_cookie_secret="c" * 40)
    path = secrets_file.write(s)
    assert path == s.auth_secrets_file and path.stat().st_mode & 0o777 == 0o600
    auth = tomllib.loads(path.read_text())["auth"]
    assert auth == {
        "redirect_uri": "https://nexus.example.com/oauth2callback",
        "cookie_secret": "c" * 40,
        "client_id": "nexus",
        "client_secret": "s3cret",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration",
        "client_kwargs": {"scope": "openid profile email"},
    }


def test_embedded_provider_secrets_come_from_its_registration(tmp_path: Path) -> None:
    s = settings(tmp_path, idp_port=9123, streamlit_port=8555)
    state.save(secrets_file.client_file(s), {"client_id": "abc", "client_secret": "xyz"})
    auth = tomllib.loads(secrets_file.write(s).read_text())["auth"]
    assert auth["server_metadata_url"] == "http://127.0.0.1:9123/.well-known/openid-configuration"
    assert auth["redirect_uri"] == "http://127.0.0.1:8555/oauth2callback"
    assert (auth["client_id"], auth["client_secret"]) == ("abc", "xyz")
    assert "groups" in auth["client_kwargs"]["scope"]
    # The generated cookie secret is kept, so a restart keeps everyone's session.
    assert len(auth["cookie_secret"]) >= 32
    again = tomllib.loads(secrets_file.write(s).read_text())["auth"]
    assert again["cookie_secret"] == auth["cookie_secret"]
    assert (s.var_dir / "auth.json").stat().st_mode & 0o777 == 0o600


def test_no_registration_and_no_client_id_refuses(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="OIDC_CLIENT_ID"):
        secrets_file.write(settings(tmp_path))


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.10", "::", "nexus.example.com"])
def test_auth_mode_none_refused_beyond_loopback(tmp_path: Path, address: str) -> None:
    s = settings(tmp_path, auth_mode="none", streamlit_address=address)
    with pytest.raises(secrets_file.UnsafeAuthMode, match=r"127\.0\.0\.1"):
        secrets_file.write(s)
    with pytest.raises(secrets_file.UnsafeAuthMode):
        secrets_file.check_auth_mode(settings(tmp_path, auth_mode="none"), address)


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1"])
def test_auth_mode_none_on_loopback_writes_no_secrets(tmp_path: Path, address: str) -> None:
    s = settings(tmp_path, auth_mode="none", streamlit_address=address)
    assert secrets_file.write(s) is None
    assert not s.auth_secrets_file.exists()


def test_sign_in_on_any_address_is_fine(tmp_path: Path) -> None:
    secrets_file.check_auth_mode(settings(tmp_path, streamlit_address="0.0.0.0"))


def test_user_from_claims_groups_and_admin_emails(tmp_path: Path) -> None:
    s = settings(tmp_path, auth_admins="Boss@Example.org", auth_admin_groups="admins,ops")
    ann = user_from_claims({"email": "Ann@Example.org", "name": "Ann", "groups": ["staff"]}, s)
    assert (ann.id, ann.name, ann.is_admin) == ("ann@example.org", "Ann", False)
    assert user_from_claims({"email": "op@x.org", "groups": ["/ops"]}, s).is_admin
    assert user_from_claims({"email": "boss@example.org"}, s).is_admin
    roles = settings(tmp_path, auth_roles_claim="roles")
    assert user_from_claims({"email": "r@x.org", "roles": {"roles": ["admins"]}}, roles).is_admin
    with pytest.raises(NotSignedIn):
        user_from_claims({"name": "no email"}, s)
