"""Bulk email throughput: reused SMTP sessions against one connection per message.

    .venv/bin/python bench/email.py [--messages 2000] [--security none|starttls] [--connections 4]

Every mode renders and builds the same kind of personalised message and sends it to the same
local aiosmtpd server (a separate process, so client and server do not share a GIL), in the
same run:
  naive    one connection per message, one message at a time (the baseline);
  reuse-1  one session reused for every message;
  bulk     what send_bulk_emails does: EMAIL_BULK_CONNECTIONS sessions side by side, each
           reused for many messages (app.mail.bulk.send_parallel).
It prints messages per second and the ratio to the baseline. Target: bulk >= 300 msg/s, >= 5x.
With --security starttls every connection also pays a TLS handshake, as real relays demand.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named email.py: take its folder off the path so `import email` finds the stdlib.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from app.mail.bulk import send_parallel  # noqa: E402
from app.mail.message import Draft, OutgoingMessage, build_message  # noqa: E402
from app.mail.render import MessageTemplate  # noqa: E402
from app.mail.smtp import SmtpConfig, SmtpSender  # noqa: E402
from app.runtime.redis_server import free_port  # noqa: E402
from app.settings import get_settings  # noqa: E402

TEMPLATE = MessageTemplate(
    subject="Your {{ plan }} plan, {{ name }}",
    html="<p>Dear {{ name }},</p><p>Your <b>{{ plan }}</b> plan renews on {{ day }}.</p>"
    "<p>Reference {{ ref }}.</p>",
)


class CountingHandler:
    """Accepts every message and counts it; the benchmark reads the count at the end."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.count += 1
        return "250 OK"


def serve(port: int, cert_dir: str | None) -> None:
    """Run the counting server until SIGTERM; print the count on exit."""
    from aiosmtpd.smtp import SMTP

    handler = CountingHandler()
    tls = None
    if cert_dir:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(f"{cert_dir}/cert.pem", f"{cert_dir}/key.pem")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="bench.local", tls_context=tls), "127.0.0.1", port
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        async with server:
            await stop.wait()
        print(handler.count, time.process_time(), flush=True)

    asyncio.run(main())


def make_certificate(folder: Path) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )


def personalised(i: int) -> OutgoingMessage:
    """Message number `i`, rendered and built as a bulk send does for each recipient."""
    context = {
        "name": f"Person {i}",
        "plan": "Pro" if i % 3 else "Team",
        "day": f"2027-01-{i % 28 + 1:02d}",
        "ref": f"R{i:06d}",
    }
    rendered = TEMPLATE.render(context)
    draft = Draft(
        sender="Nexus <nexus@example.com>",
        to=[f"person{i}@example.com"],
        subject=rendered.subject,
        html=rendered.html,
    )
    return build_message(draft, f"bench:{i}")


def run_naive(config: SmtpConfig, numbers: range) -> tuple[float, int]:
    start = time.perf_counter()
    for i in numbers:
        with SmtpSender(config) as sender:
            sender.send(personalised(i))
    return time.perf_counter() - start, len(numbers)


def run_reused(config: SmtpConfig, numbers: range, connections: int) -> tuple[float, int]:
    opened: list[int] = []

    def send(sender: SmtpSender, i: int) -> None:
        sender.send(personalised(i))
        opened.append(sender.connections)

    start = time.perf_counter()
    for _ in send_parallel(numbers, send, config, connections):
        pass
    return time.perf_counter() - start, min(connections, len(numbers))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--security", choices=("none", "starttls"), default="none")
    parser.add_argument("--connections", type=int, default=get_settings().email_bulk_connections)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cert-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.cert_dir)
        return 0

    port = free_port()
    cert_dir = Path(tempfile.mkdtemp(prefix="nexus-bench-")) if args.security != "none" else None
    command = [sys.executable, __file__, "--serve", str(port)]
    if cert_dir:
        make_certificate(cert_dir)
        command += ["--cert-dir", str(cert_dir)]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    n = args.messages
    try:
        server.stdout.readline()
        config = SmtpConfig(
            host="127.0.0.1",
            port=port,
            security=args.security,
            timeout=10,
            ca_file=str(cert_dir / "cert.pem") if cert_dir else None,
            local_hostname="bench-client",
        )
        runs = {
            "naive": run_naive(config, range(0, n)),
            "reuse-1": run_reused(config, range(n, 2 * n), 1),
            "bulk": run_reused(config, range(2 * n, 3 * n), args.connections),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        received, server_cpu = server.communicate(timeout=30)[0].split()
        received = int(received)
        if cert_dir:
            shutil.rmtree(cert_dir, ignore_errors=True)
    return report(runs, n, received, float(server_cpu), args)


def report(
    runs: dict[str, tuple[float, int]], n: int, received: int, server_cpu: float, args
) -> int:
    print(
        f"{n} personalised messages per mode, security={args.security}, "
        f"bulk connections={args.connections}"
    )
    base = n / runs["naive"][0]
    labels = {
        "naive": "one connection per message",
        "reuse-1": "one reused connection",
        "bulk": f"{args.connections} reused connections",
    }
    for mode, (seconds, connections) in runs.items():
        rate = n / seconds
        print(
            f"{mode:8} {labels[mode]:28} {rate:8.1f} msg/s  {rate / base:5.1f}x  "
            f"({seconds:.2f} s, {connections} connection{'s' if connections != 1 else ''})"
        )
    print(
        f"server received {received} of {3 * n}, using {server_cpu / received * 1000:.2f} ms "
        "of CPU per message"
    )
    bulk_rate = n / runs["bulk"][0]
    ok = received == 3 * n and bulk_rate >= 300 and bulk_rate / base >= 5
    print("target (bulk >= 300 msg/s and >= 5x naive): " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
