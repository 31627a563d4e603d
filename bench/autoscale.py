"""What autoscaling the files queue buys: a discrete-event simulation, no servers.

    .venv/bin/python bench/autoscale.py [--burst 2000] [--every 5] [--minutes 30]
        [--pod-start 30] [--job-seconds 0.0465 1.59]

The trace is a burst of `--burst` file jobs at t=0, then one job every `--every` seconds for
`--minutes`. Pools of 1, 2 and 4 worker pods run the whole time; the autoscaled pool follows
the files ScaledObject in deploy/kubernetes/keda/scaledobjects.yaml (threshold, min and max
replicas, polling interval, cooldown, scale-down stabilization) as KEDA and the HPA apply it:
Prometheus scrapes the queue length every `--scrape` seconds, the HPA wants
ceil(length / threshold) pods each 15 s sync, may add max(4 pods, 100 %) per sync, and removes
pods only once the wish has stayed lower for the whole stabilization window. A new pod takes
`--pod-start` seconds to take jobs; a removed one finishes its running jobs (warm shutdown).
Each pod runs as many jobs at once as its worker's `-c` in deploy/kubernetes/workers.yaml.

Per-job costs, in seconds of one worker process: 0.0465 is bench/files.py's thumbnail batch
through a real files worker (43 jobs/s on 2 processes, upload to result: README
"Performance"); 1.59 is bench/documents.py's Office -> PDF per file, a heavy files job. Prints
queue wait p50/p95, when the burst's last job finished, the most pods at once and
the worker-minutes each pool used.
"""

from __future__ import annotations

import argparse
import heapq
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCALED_OBJECTS = ROOT / "deploy" / "kubernetes" / "keda" / "scaledobjects.yaml"
WORKERS = ROOT / "deploy" / "kubernetes" / "workers.yaml"
HPA_SYNC_SECONDS = 15.0  # kube-controller-manager's --horizontal-pod-autoscaler-sync-period
HPA_TOLERANCE = 0.1  # the HPA leaves replicas alone within 10 % of the target
THUMBNAIL_JOB_SECONDS = 2 / 43  # bench/files.py: 43 jobs/s through a 2-process files worker
OFFICE_JOB_SECONDS = 1.59  # bench/documents.py: Office -> PDF, seconds per file


@dataclass(frozen=True)
class Rules:
    """The scaling rules of one ScaledObject, with KEDA's and the HPA's defaults filled in."""

    threshold: float
    activation: float
    min_replicas: int
    max_replicas: int
    polling: float
    cooldown: float
    stabilization: float


def read_rules(queue: str = "files") -> Rules:
    """The ScaledObject of `queue`'s worker, read from the manifests the cluster gets."""
    for doc in yaml.safe_load_all(SCALED_OBJECTS.read_text()):
        if doc and doc["spec"]["scaleTargetRef"]["name"] == f"worker-{queue}":
            spec = doc["spec"]
            meta = spec["triggers"][0]["metadata"]
            behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
            down = behavior.get("behavior", {}).get("scaleDown", {})
            return Rules(threshold=float(meta["threshold"]),
                         activation=float(meta.get("activationThreshold", 0)),
                         min_replicas=spec.get("minReplicaCount", 0),
                         max_replicas=spec.get("maxReplicaCount", 100),
                         polling=float(spec.get("pollingInterval", 30)),
                         cooldown=float(spec.get("cooldownPeriod", 300)),
                         stabilization=float(down.get("stabilizationWindowSeconds", 300)))
    raise SystemExit(f"no ScaledObject for worker-{queue} in {SCALED_OBJECTS}")


def read_concurrency(queue: str = "files") -> int:
    """The `-c` of `queue`'s worker Deployment: jobs one pod runs at once."""
    for doc in yaml.safe_load_all(WORKERS.read_text()):
        if doc and doc["metadata"]["name"] == f"worker-{queue}":
            command = doc["spec"]["template"]["spec"]["containers"][0]["command"]
            return int(command[command.index("-c") + 1])
    raise SystemExit(f"no worker-{queue} Deployment in {WORKERS}")


def trace(burst: int, every: float, minutes: float) -> list[float]:
    """Arrival times: `burst` jobs at 0, then one every `every` seconds for `minutes`."""
    steady = int(minutes * 60 / every)
    return [0.0] * burst + [every * (i + 1) for i in range(steady)]


@dataclass
class Pod:
    created: float
    ready: float
    slots: int
    busy: int = 0
    stopping: bool = False
    ended: float | None = None


@dataclass
class Run:
    """What one pool did: each job's wait, the last finish and every pod's lifetime."""

    waits: list[float] = field(default_factory=list)
    finished: float = 0.0
    burst_done: float = 0.0  # when the last job of the burst finished
    pods: list[Pod] = field(default_factory=list)
    peak: int = 0

    def worker_minutes(self, horizon: float) -> float:
        """Pod-minutes from each pod's creation (its resources are reserved) to `horizon`."""
        return sum((min(p.ended if p.ended is not None else horizon, horizon) - p.created)
                   for p in self.pods) / 60


def simulate(arrivals: list[float], burst: int, job_seconds: float, slots: int,
             fixed: int | None, rules: Rules, pod_start: float, scrape: float) -> Run:
    """One pool through the trace: `fixed` pods all along, or autoscaled by `rules` if None."""
    run = Run()
    events: list[tuple[float, int, str, object]] = []
    order = 0

    def at(time: float, kind: str, what: object = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (time, order, kind, what))

    queue: list[float] = []  # arrival times of waiting jobs, oldest first
    head = 0
    for time in arrivals:
        at(time, "arrive", time)

    def add_pod(now: float, start: float) -> None:
        pod = Pod(created=now, ready=now + start, slots=slots)
        run.pods.append(pod)
        at(pod.ready, "ready", pod)

    def live() -> list[Pod]:
        return [p for p in run.pods if not p.stopping and p.ended is None]

    def dispatch(now: float) -> None:
        nonlocal head
        for pod in live():
            while pod.ready <= now and pod.busy < pod.slots and head < len(queue):
                run.waits.append(now - queue[head])
                head += 1
                if head == burst:  # jobs start in arrival order: this is the burst's last
                    run.burst_done = now + job_seconds
                pod.busy += 1
                at(now + job_seconds, "done", pod)

    def stop(pod: Pod, now: float) -> None:
        pod.stopping = True
        if pod.busy == 0:
            pod.ended = now

    def resize(target: int, now: float) -> None:
        pods = live()
        for _ in range(target - len(pods)):
            add_pod(now, pod_start)
        # The ReplicaSet removes pods that are not ready first, then the least busy.
        for pod in sorted(pods, key=lambda p: (p.ready <= now, p.busy))[:len(pods) - target]:
            stop(pod, now)
        run.peak = max(run.peak, len(live()))

    if fixed is not None:
        for _ in range(fixed):
            add_pod(0.0, 0.0)  # already running when the burst lands
        run.peak = fixed
    else:
        for _ in range(rules.min_replicas):
            add_pod(0.0, 0.0)
        run.peak = rules.min_replicas
        at(0.0, "scrape")
        at(HPA_SYNC_SECONDS, "hpa")
        at(rules.polling, "keda")

    scraped = 0.0  # the queue length Prometheus last stored
    wishes: list[tuple[float, int]] = []  # (time, desired) for the stabilization window
    last_active = 0.0
    total = len(arrivals)
    while events and (len(run.waits) < total or any(p.busy for p in run.pods)):
        now, _, kind, what = heapq.heappop(events)
        if kind == "arrive":
            queue.append(what)
        elif kind == "done":
            what.busy -= 1
            run.finished = max(run.finished, now)
            if what.stopping and what.busy == 0:
                what.ended = now
        elif kind == "scrape":
            scraped = len(queue) - head
            at(now + scrape, "scrape")
        elif kind == "keda":
            # KEDA itself decides only 0 <-> 1 (activation, and cooldown back to zero).
            if scraped > rules.activation:
                last_active = now
                if not live():
                    resize(max(1, rules.min_replicas), now)
            elif rules.min_replicas == 0 and live() and now - last_active >= rules.cooldown:
                resize(0, now)
            at(now + rules.polling, "keda")
        elif kind == "hpa":
            current = len(live())
            if current:
                ratio = scraped / rules.threshold / current
                desired = current if abs(ratio - 1) <= HPA_TOLERANCE else math.ceil(
                    scraped / rules.threshold)
                desired = min(rules.max_replicas, max(1, rules.min_replicas, desired))
                wishes.append((now, desired))
                wishes = [(t, d) for t, d in wishes if t > now - rules.stabilization]
                if desired > current:
                    resize(min(desired, max(current + 4, 2 * current)), now)
                elif desired < current:
                    # Down only to the highest wish of the window: a dip does not shed pods.
                    highest = max(d for _, d in wishes)
                    if highest < current:
                        resize(highest, now)
            at(now + HPA_SYNC_SECONDS, "hpa")
        dispatch(now)
    return run


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of `values` (nearest rank), as bench/overhead.py computes it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(runs: dict[str, Run], horizon: float) -> None:
    """One row per pool; worker-minutes are counted up to `horizon` for every pool alike."""
    print(f"{'pool':20}{'wait p50':>10}{'wait p95':>10}{'burst done':>12}{'peak pods':>11}"
          f"{'worker-min':>12}")
    for name, run in runs.items():
        print(f"{name:20}{percentile(run.waits, .5):9.1f}s{percentile(run.waits, .95):9.1f}s"
              f"{run.burst_done:11.0f}s{run.peak:11d}{run.worker_minutes(horizon):12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=2000, help="file jobs at t=0")
    parser.add_argument("--every", type=float, default=5.0, help="then one job every N s")
    parser.add_argument("--minutes", type=float, default=30.0, help="for this many minutes")
    parser.add_argument("--pod-start", type=float, default=30.0,
                        help="seconds from a scale-up to a pod taking jobs (image cached)")
    parser.add_argument("--scrape", type=float, default=15.0, help="Prometheus scrape interval")
    parser.add_argument("--job-seconds", type=float, nargs="+",
                        default=[THUMBNAIL_JOB_SECONDS, OFFICE_JOB_SECONDS],
                        help="per-job cost on one worker process; one table per value")
    args = parser.parse_args()

    rules, slots = read_rules("files"), read_concurrency("files")
    arrivals = trace(args.burst, args.every, args.minutes)
    print(f"files queue: {args.burst} jobs at t=0, then one every {args.every:g} s for "
          f"{args.minutes:g} min ({len(arrivals)} jobs); {slots} jobs at once per pod; pods "
          f"start in {args.pod_start:g} s; KEDA: threshold {rules.threshold:g} per pod, "
          f"{rules.min_replicas}-{rules.max_replicas} pods, polling {rules.polling:g} s, "
          f"cooldown {rules.cooldown:g} s, scale-down window {rules.stabilization:g} s")
    for job_seconds in args.job_seconds:
        runs = {f"fixed, {n} pod{'s' if n > 1 else ''}": simulate(
            arrivals, args.burst, job_seconds, slots, n, rules, args.pod_start, args.scrape)
            for n in (1, 2, 4)}
        runs[f"KEDA, {rules.min_replicas}-{rules.max_replicas} pods"] = simulate(
            arrivals, args.burst, job_seconds, slots, None, rules, args.pod_start, args.scrape)
        # Every pool is charged over the same span: the trace, or the slowest pool's last job.
        horizon = max(arrivals[-1], *(run.finished for run in runs.values()))
        print(f"\n{job_seconds:.4g} s per job, pods counted over {horizon / 60:.1f} min:")
        report(runs, horizon)


if __name__ == "__main__":
    main()
