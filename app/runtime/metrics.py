"""A small Prometheus endpoint with what Flower's /metrics lacks: queue lengths and consumers.

    python -m app.runtime.metrics        # serves http://127.0.0.1:<METRICS_PORT>/metrics

Values are read from Redis at each scrape, so they are never staler than the scrape itself.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

from prometheus_client import start_http_server
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from app import jobs, monitor
from app.auth import SYSTEM
from app.settings import get_settings


class QueueCollector(Collector):
    """Queue lengths (every priority), consumers, workers online and today's jobs by state."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        length = GaugeMetricFamily("nexus_queue_length", "Messages waiting in a queue.",
                                   labels=["queue"])
        by_priority = GaugeMetricFamily("nexus_queue_length_by_priority",
                                        "Messages waiting per priority step.",
                                        labels=["queue", "priority"])
        consumers = GaugeMetricFamily("nexus_queue_consumers", "Online workers reading a queue.",
                                      labels=["queue"])
        for name, stats in monitor.queue_stats().items():
            length.add_metric([name], stats.length)
            consumers.add_metric([name], stats.consumers)
            for priority, count in stats.by_priority.items():
                by_priority.add_metric([name, str(priority)], count)
        online = GaugeMetricFamily("nexus_workers_online", "Workers with a recent heartbeat.")
        online.add_metric([], sum(1 for w in monitor.workers() if w.online))
        today = GaugeMetricFamily("nexus_jobs_today", "Jobs submitted today (UTC) by state.",
                                  labels=["state"])
        for state, count in jobs.counts_today(user=SYSTEM).items():
            today.add_metric([state], count)
        yield from (length, by_priority, consumers, online, today)


def serve(port: int | None = None, address: str = "127.0.0.1") -> None:
    REGISTRY.register(QueueCollector())
    start_http_server(port or get_settings().metrics_port, addr=address)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve Nexus queue metrics for Prometheus.")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=get_settings().metrics_port)
    args = parser.parse_args()
    serve(args.port, args.address)
    print(f"Nexus metrics on http://{args.address}:{args.port}/metrics", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
