"""docker-compose.yml, checked statically: there is no Docker engine on the CI machine."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from app.runtime.processes import worker_plans
from app.settings import QUEUES

TEXT = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(TEXT)
SERVICES = COMPOSE["services"]
# Services built from the Nexus image (every one but the third-party images).
APP_SERVICES = [name for name, s in SERVICES.items() if s.get("image") == "nexus:latest"]
WORKERS = [f"worker-{queue}" for queue in QUEUES]
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _interpolate(text: str) -> str:
    """What compose makes of `text` with nothing set: defaults in, required ones an error."""

    def default(match: re.Match) -> str:
        name, kind, value = match.groups()
        if kind and kind.endswith("?"):
            raise AssertionError(f"{name} is required: {value}")
        return value or ""

    return VARIABLE.sub(default, text)


def test_one_scalable_worker_service_per_queue() -> None:
    for queue in QUEUES:
        service = SERVICES[f"worker-{queue}"]
        command = service["command"]
        assert f"-Q {queue} " in command
        assert f"-P {worker_plans()[queue].pool} " in command
        assert f"--prefetch-multiplier {worker_plans()[queue].prefetch} " in command
        assert "-E" in command.split() and "%h" in command  # events on, per-replica state db
    assert not any("container_name" in s for s in SERVICES.values())


def test_redis_persists_has_a_password_and_a_healthcheck() -> None:
    redis = SERVICES["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--requirepass" in command
    assert "--maxmemory-policy noeviction" in command
    assert "ping" in " ".join(redis["healthcheck"]["test"])


def test_every_app_service_waits_for_a_healthy_redis() -> None:
    assert {"streamlit", "api", "beat", *WORKERS} <= set(APP_SERVICES)
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert "@redis:6379" in service["environment"]["REDIS_URL"], name


def test_flower_beat_streamlit_and_mailpit_are_there() -> None:
    assert "FLOWER_BASIC_AUTH" in SERVICES["flower"]["environment"]
    assert "--persistent=True" in SERVICES["flower"]["command"]
    assert SERVICES["beat"]["command"].startswith("celery -A config.celery_config beat")
    assert [_interpolate(p) for p in SERVICES["streamlit"]["ports"]] == ["127.0.0.1:8501:8501"]
    assert SERVICES["mailpit"]["image"].startswith("axllent/mailpit")
    assert SERVICES["worker-email"]["environment"]["SMTP_HOST"] == "mailpit"


def test_every_published_port_binds_loopback_by_default() -> None:
    published = {name: s["ports"] for name, s in SERVICES.items() if "ports" in s}
    assert {"flower", "metrics", "streamlit", "mailpit", "idp"} <= set(published)
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str), f"{name}: long-form port {port!r} is not checked"
            host_ip, host_port, container_port = _interpolate(port).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            assert host_port == container_port, name
            assert "BIND_ADDRESS" in port, f"{name}: {port} cannot be opened up by configuration"


def test_redis_password_is_required_and_has_no_fallback() -> None:
    uses = [m for m in VARIABLE.finditer(TEXT) if m.group(1) == "REDIS_PASSWORD"]
    assert len(uses) >= 3  # the server, its healthcheck's environment, every client's URL
    for use in uses:
        assert use.group(2) == ":?", f"{use.group(0)} lets compose start without a password"
    assert "change-me" not in TEXT
    assert "${REDIS_PASSWORD:?" in " ".join(SERVICES["redis"]["command"])
    assert "${REDIS_PASSWORD:?" in SERVICES["beat"]["environment"]["REDIS_URL"]
    assert "${FLOWER_PASSWORD:?" in SERVICES["flower"]["environment"]["FLOWER_BASIC_AUTH"]


def test_interpolation_is_read_as_compose_reads_it() -> None:
    assert _interpolate("${BIND_ADDRESS:-127.0.0.1}:80:80") == "127.0.0.1:80:80"
    try:
        _interpolate("${REDIS_PASSWORD:?set it}")
    except AssertionError as exc:
        assert "REDIS_PASSWORD is required" in str(exc)
    else:
        raise AssertionError("a required variable interpolated to a value")


def test_minio_holds_the_files_behind_a_required_password() -> None:
    minio = SERVICES["minio"]
    assert minio["image"].startswith("minio/minio:")
    assert "server /data" in minio["command"]
    assert "minio-data:/data" in minio["volumes"]
    assert "${MINIO_ROOT_PASSWORD:?" in minio["environment"]["MINIO_ROOT_PASSWORD"]
    assert "ready" in minio["healthcheck"]["test"]
    assert "9000" not in " ".join(minio.get("ports", []))  # the S3 API stays on the network


def test_a_one_shot_service_creates_the_bucket_every_app_service_waits_for() -> None:
    init = SERVICES["minio-init"]
    assert init["image"].startswith("minio/mc:")
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert init["restart"] == "no"
    script = " ".join(init["entrypoint"])
    bucket = SERVICES["worker-files"]["environment"]["STORAGE_URL"].split("/")[2]
    assert f"mc mb --ignore-existing nexus/{bucket}" in script
    assert "mc anonymous set none" in script  # never a public bucket
    for name in APP_SERVICES:
        waits = SERVICES[name]["depends_on"]["minio-init"]["condition"]
        assert waits == "service_completed_successfully", name


def test_every_app_service_stores_files_in_minio() -> None:
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        assert env["STORAGE_URL"].startswith("s3://"), name
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000", name
        assert "${MINIO_ROOT_PASSWORD:?" in env["S3_SECRET_ACCESS_KEY"], name
        assert "MINIO_ROOT_USER" in env["S3_ACCESS_KEY_ID"], name
        # Without a shared VAR_DIR each container would generate a secrets.key of its own.
        assert "${SECRETS_KEY:?" in env["SECRETS_KEY"], name


def test_workers_and_beat_mount_no_shared_volume() -> None:
    for name in [*WORKERS, "beat", "metrics"]:
        assert not SERVICES[name].get("volumes"), f"{name} mounts {SERVICES[name]['volumes']}"
    # What still needs nexus-data keeps state of its own there (idp data, Flower's db).
    for name in ("idp", "streamlit", "api", "flower"):
        assert "nexus-data:/data" in SERVICES[name]["volumes"], name
    assert set(COMPOSE["volumes"]) == {"redis-data", "nexus-data", "minio-data"}
