"""The one settings object: environment variables and `.env`, nothing else reads os.environ.

Secrets are `SecretStr`: printing, logging or serialising the object shows `**********`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

QUEUES: tuple[str, ...] = ("email", "files", "ai", "reports", "ocr", "maintenance")


class Settings(BaseSettings):
    """Every knob of the platform, with a default that works on a fresh machine."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Redis and Celery
    redis_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str | None = Field(default=None, description="Defaults to REDIS_URL.")
    visibility_timeout: int = Field(default=7200, ge=10)
    result_expires: int = Field(default=86400, ge=60)
    registry_prefix: str = "nexus"
    # Encrypts job secrets (a PDF password) while a job runs. Unset: generated once and kept in
    # VAR_DIR/secrets.key, which one machine's web app and workers share; several hosts must
    # set the same SECRETS_KEY.
    secrets_key: SecretStr | None = None

    # Files and storage
    var_dir: Path = PROJECT_ROOT / "var"
    storage_dir: Path = PROJECT_ROOT / "var" / "storage"
    # Where job files live: empty for the folder above, or "s3://bucket/prefix" for an
    # S3-compatible object store (AWS S3, MinIO, Ceph RGW, Cloudflare R2) shared by every host.
    storage_url: str = Field(default="", pattern=r"^(|file:///.*|s3://[a-z0-9][a-z0-9.-]{1,62}(/.*)?)$")
    s3_endpoint_url: str | None = None  # unset for AWS itself
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # This host's own working folder: with object storage, workers copy a job's inputs here
    # and write its outputs here before they go to the store; emptied after each job.
    scratch_dir: Path = PROJECT_ROOT / "var" / "scratch"
    max_upload_mb: int = Field(default=100, ge=1)
    max_inflated_mb: int = Field(default=200, ge=1)
    # Most files of a batch one Celery task runs in turn (app.office.batch.plan_chunks); 1 gives
    # every file a task of its own, as batches ran before chunks.
    batch_files_per_chunk: int = Field(default=50, ge=1)
    # Rows a report may read from one table: past this, pandas' memory use would sink a worker.
    max_table_rows: int = Field(default=1_000_000, ge=1)
    retention_days: int = Field(default=30, ge=1)
    archive_after_days: int = Field(default=7, ge=1)
    default_owner: str = "local"

    # OCR (the ocr queue): tesseract languages as tesseract writes them ("eng+deu"), the
    # number of OCR jobs a worker runs at once, pages recognised in parallel within one job
    # (0: one per CPU), and the seconds one page may take.
    ocr_languages: str = "eng"
    ocr_concurrency: int = Field(default=1, ge=1)
    ocr_page_jobs: int = Field(default=0, ge=0)
    ocr_page_timeout: float = Field(default=180.0, gt=0)
    # LibreOffice (Office -> PDF, legacy formats): the warm unoserver `make run` starts (its
    # UNO bridge takes the next port) and the seconds one conversion may take.
    unoserver_port: int = 2003
    office_convert_timeout: float = Field(default=120.0, gt=0)

    # Email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = 30.0
    smtp_ca_file: Path | None = None
    mail_from: str = "Nexus <nexus@localhost>"
    email_rate_per_minute: int = Field(default=600, ge=1)
    email_max_recipients: int = Field(default=100, ge=1)
    email_max_attachment_mb: int = Field(default=25, ge=1)
    email_bulk_connections: int = Field(default=4, ge=1, le=20)

    # AI
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    # claude-sonnet-4-5 reaches end of life on 2026-11-30; Sonnet 5.5 is the current Sonnet.
    anthropic_model: str = "claude-sonnet-5-5"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-5.4-mini"
    ai_timeout: float = 120.0
    ai_requests_per_minute: int = Field(default=50, ge=1)
    ai_tokens_per_minute: int = Field(default=100_000, ge=1)
    ai_context_tokens: int = Field(default=100_000, ge=1000)
    # Current models think before they answer, and thinking counts against this limit.
    ai_max_output_tokens: int = Field(default=8192, ge=64)
    # What the AI page offers in its model picker; the *_model above is the default.
    anthropic_models: list[str] = [
        "claude-sonnet-5-5", "claude-haiku-5-5", "claude-opus-5-5", "claude-haiku-4-5"
    ]  # fmt: skip
    openai_models: list[str] = ["gpt-5.4-mini", "gpt-5.4", "gpt-5.5", "gpt-4.1-mini"]
    # USD per million tokens: model -> [input, output]
    ai_prices: dict[str, tuple[float, float]] = {
        "claude-sonnet-5-5": (2.0, 10.0),
        "claude-opus-5-5": (4.0, 20.0),
        "claude-haiku-5-5": (0.1, 0.5),  # prompts up to 100k tokens; 5x above
        "claude-sonnet-4-5": (3.0, 15.0),
        "claude-haiku-4-5": (1.0, 5.0),
        "claude-opus-4-1": (15.0, 75.0),
        "gpt-5.5": (5.0, 30.0),
        "gpt-5.4": (2.5, 15.0),
        "gpt-5.4-mini": (0.75, 4.5),
        "gpt-4.1": (2.0, 8.0),
        "gpt-4.1-mini": (0.4, 1.6),
        "gpt-4o": (2.5, 10.0),
        "gpt-4o-mini": (0.15, 0.6),
    }

    # Flower and metrics
    flower_user: str = "admin"
    flower_password: SecretStr | None = None
    flower_port: int = 5555
    flower_url: str | None = None  # where people open Flower; see flower_address
    metrics_port: int = 9808

    # Streamlit
    streamlit_port: int = 8501
    streamlit_address: str = "127.0.0.1"

    # HTTP API (python -m app.api)
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # Sign-in (OpenID Connect through Streamlit's st.login)
    # "none" is for one person on loopback: Nexus refuses it on any other address.
    auth_mode: Literal["oidc", "none"] = "oidc"
    # Empty: `make run` starts the embedded identity provider and registers Nexus with it.
    oidc_metadata_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # Where the provider sends the browser back; must match what the provider has registered.
    oidc_redirect_uri: str | None = None
    auth_cookie_secret: SecretStr | None = None
    # The claim that lists a person's groups or roles, and the groups that make an admin.
    auth_roles_claim: str = "groups"
    auth_admin_groups: Annotated[list[str], NoDecode] = ["admins"]
    # Emails that are admins whatever their groups say: how the first admins are made.
    auth_admins: Annotated[list[str], NoDecode] = []
    # Where Nexus writes Streamlit's [auth] secrets at start (git-ignored, mode 0600).
    auth_secrets_file: Path = PROJECT_ROOT / ".streamlit" / "secrets.toml"
    # The embedded provider (only when OIDC_METADATA_URL is empty); its data is var/idp.
    idp_port: int = 9000
    idp_address: str = "127.0.0.1"
    # Where browsers reach the embedded provider; defaults to http://127.0.0.1:IDP_PORT.
    idp_public_url: str | None = None

    # Quotas: per person; an admin can override each for one person on the Admin page.
    storage_quota_mb: int = Field(default=2048, ge=1)
    jobs_per_minute: int = Field(default=60, ge=1)
    emails_per_day: int = Field(default=500, ge=1)
    bulk_max_recipients: int = Field(default=1000, ge=1)
    ai_tokens_per_day: int = Field(default=1_000_000, ge=1)
    report_min_interval_minutes: int = Field(default=15, ge=1)
    # Reliability (README "Faults"): deliveries of a job whose worker process died before the
    # job is set aside; per-child memory of files and reports workers (resident size after
    # which a child is replaced, and an address-space cap that turns a runaway allocation into
    # a MemoryError; 0 turns either off); how long a task holds its registry writes through a
    # Redis outage; how long a job may sit STARTED after its worker's heartbeat has gone.
    worker_loss_limit: int = Field(default=3, ge=1)
    child_max_rss_mb: int = Field(default=1024, ge=0)
    child_address_space_mb: int = Field(default=4096, ge=0)
    redis_outage_patience: float = Field(default=120.0, ge=0)
    orphan_grace_seconds: int = Field(default=300, ge=10)
    # The embedded Redis's append-only fsync: "always" (no acknowledged write lost) or
    # "everysec" (up to a second of writes lost on a crash of the machine).
    redis_appendfsync: str = Field(default="always", pattern="^(always|everysec|no)$")
    # Test fixtures only: lets diagnostics.crash_worker kill its worker process on purpose.
    diagnostics_crash_enabled: bool = False

    @field_validator("auth_admins", "auth_admin_groups", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """AUTH_ADMINS=a@x.org,b@x.org reads as a list, as people write it."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def broker_url(self) -> str:
        return self.redis_url

    @property
    def backend_url(self) -> str:
        return self.result_backend or self.redis_url

    @property
    def flower_address(self) -> str:
        """Where people open Flower: FLOWER_URL, else FLOWER_PORT on this machine."""
        return self.flower_url or f"http://127.0.0.1:{self.flower_port}"

    @property
    def idp_url(self) -> str:
        """The embedded provider's issuer URL, as browsers and Nexus reach it."""
        return (self.idp_public_url or f"http://127.0.0.1:{self.idp_port}").rstrip("/")

    @property
    def embedded_idp(self) -> bool:
        """True when Nexus signs people in through its own embedded provider."""
        return self.auth_mode == "oidc" and not self.oidc_metadata_url

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_inflated_bytes(self) -> int:
        return self.max_inflated_mb * 1024 * 1024

    @property
    def ai_provider_configured(self) -> bool:
        return bool(self.anthropic_api_key or self.openai_api_key or self.openai_base_url)


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for a page or a log line."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}****@{host}"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
