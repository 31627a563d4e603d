"""Settings come from the environment and .env; secrets never print."""

from __future__ import annotations

from app.settings import Settings, redact_url


def test_environment_overrides_defaults(monkeypatch) -> None:
    monkeypatch.setenv("MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("SMTP_SECURITY", "starttls")
    settings = Settings(_env_file=None)
    assert settings.max_upload_bytes == 7 * 1024 * 1024
    assert settings.smtp_security == "starttls"


def test_dotenv_file_is_read(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RETENTION_DAYS", raising=False)
    env = tmp_path / ".env"
    env.write_text("RETENTION_DAYS=9\nOPENAI_BASE_URL=http://127.0.0.1:11434/v1\n")
    settings = Settings(_env_file=env)
    assert settings.retention_days == 9
    assert settings.ai_provider_configured


def test_secrets_never_show_in_repr_str_or_dump(monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("FLOWER_PASSWORD", "flower-secret")
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "s3-secret-key")
    settings = Settings(_env_file=None)
    shown = " ".join([repr(settings), str(settings), settings.model_dump_json()])
    for secret in ("sk-ant-very-secret", "hunter2", "flower-secret", "s3-secret-key"):
        assert secret not in shown
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-very-secret"


def test_result_backend_defaults_to_redis_url(monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:6380/2")
    monkeypatch.delenv("RESULT_BACKEND", raising=False)
    assert Settings(_env_file=None).backend_url == "redis://example:6380/2"


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://:s3cret@redis:6379/0") == "redis://:****@redis:6379/0"
    assert redact_url("redis://user:s3cret@redis/0") == "redis://user:****@redis/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_flower_address_follows_the_port_unless_a_url_is_given(monkeypatch) -> None:
    monkeypatch.delenv("FLOWER_URL", raising=False)
    monkeypatch.setenv("FLOWER_PORT", "5611")
    assert Settings(_env_file=None).flower_address == "http://127.0.0.1:5611"
    monkeypatch.setenv("FLOWER_URL", "https://flower.example.com")
    assert Settings(_env_file=None).flower_address == "https://flower.example.com"
