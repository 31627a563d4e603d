"""docker-compose.yml, checked statically: there is no Docker engine on the CI machine."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.processes import worker_plans
from app.settings import QUEUES

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_one_scalable_worker_service_per_queue() -> None:
    for queue in QUEUES:
        service = SERVICES[f"worker-{queue}"]
        command = service["command"]
        assert f"-Q {queue} " in command
        assert f"-P {worker_plans()[queue].pool} " in command
        assert "-E" in command.split() and "%h" in command  # events on, per-replica state db
    assert not any("container_name" in s for s in SERVICES.values())


def test_redis_persists_has_a_password_and_a_healthcheck() -> None:
    redis = SERVICES["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--requirepass" in command
    assert "ping" in " ".join(redis["healthcheck"]["test"])


def test_every_app_service_waits_for_a_healthy_redis() -> None:
    for name, service in SERVICES.items():
        if name in ("redis", "mailpit"):
            continue
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert "@redis:6379" in service["environment"]["REDIS_URL"], name


def test_flower_beat_streamlit_and_mailpit_are_there() -> None:
    assert "FLOWER_BASIC_AUTH" in SERVICES["flower"]["environment"]
    assert "--persistent=True" in SERVICES["flower"]["command"]
    assert SERVICES["beat"]["command"].startswith("celery -A config.celery_config beat")
    assert "8501:8501" in SERVICES["streamlit"]["ports"]
    assert SERVICES["mailpit"]["image"].startswith("axllent/mailpit")
    assert SERVICES["worker-email"]["environment"]["SMTP_HOST"] == "mailpit"
