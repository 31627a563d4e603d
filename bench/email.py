"""Bulk email throughput: one reused SMTP session against one connection per message.

    .venv/bin/python bench/email.py [--messages 2000] [--security none|starttls]

Both modes render and build the same personalised messages and send them to the same local
aiosmtpd server (a separate process, so client and server do not share a GIL), in the same run.
It prints messages per second for each and the ratio. Target: reuse >= 300 msg/s and >= 5x.
With --security starttls each connection also pays a TLS handshake, as real relays demand.
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

from app.mail.message import Draft, build_message  # noqa: E402
from app.mail.render import MessageTemplate  # noqa: E402
from app.mail.smtp import SmtpConfig, SmtpSender  # noqa: E402
from app.redis_server import free_port  # noqa: E402

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
        print(handler.count, flush=True)

    asyncio.run(main())


def make_certificate(folder: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True,
    )


def messages(count: int, offset: int) -> list:
    """`count` personalised messages, rendered and built as a bulk send would."""
    built = []
    for i in range(offset, offset + count):
        context = {"name": f"Person {i}", "plan": "Pro" if i % 3 else "Team",
                   "day": f"2027-01-{i % 28 + 1:02d}", "ref": f"R{i:06d}"}
        rendered = TEMPLATE.render(context)
        draft = Draft(sender="Nexus <nexus@example.com>", to=[f"person{i}@example.com"],
                      subject=rendered.subject, html=rendered.html)
        built.append(build_message(draft, f"bench:{i}"))
    return built


def run_reused(config: SmtpConfig, count: int) -> tuple[float, int]:
    start = time.perf_counter()
    with SmtpSender(config) as sender:
        for outgoing in messages(count, 0):
            sender.send(outgoing)
        connections = sender.connections
    return time.perf_counter() - start, connections


def run_naive(config: SmtpConfig, count: int) -> tuple[float, int]:
    start = time.perf_counter()
    for outgoing in messages(count, count):
        with SmtpSender(config) as sender:
            sender.send(outgoing)
    return time.perf_counter() - start, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--security", choices=("none", "starttls"), default="none")
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
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        server.stdout.readline()
        config = SmtpConfig(
            host="127.0.0.1", port=port, security=args.security, timeout=10,
            ca_file=str(cert_dir / "cert.pem") if cert_dir else None,
            local_hostname="bench-client",
        )
        naive_s, naive_conn = run_naive(config, args.messages)
        reuse_s, reuse_conn = run_reused(config, args.messages)
    finally:
        server.send_signal(signal.SIGTERM)
        received = int(server.communicate(timeout=30)[0].strip() or 0)
        if cert_dir:
            shutil.rmtree(cert_dir, ignore_errors=True)

    naive_rate, reuse_rate = args.messages / naive_s, args.messages / reuse_s
    print(f"{args.messages} personalised messages per mode, security={args.security}")
    print(f"one connection per message: {naive_rate:8.1f} msg/s  "
          f"({naive_s:.2f} s, {naive_conn} connections)")
    print(f"one reused connection:      {reuse_rate:8.1f} msg/s  "
          f"({reuse_s:.2f} s, {reuse_conn} connection{'s' if reuse_conn != 1 else ''})")
    print(f"ratio: {reuse_rate / naive_rate:.1f}x   server received {received} "
          f"of {2 * args.messages}")
    ok = received == 2 * args.messages and reuse_rate >= 300 and reuse_rate / naive_rate >= 5
    print("target (>= 300 msg/s and >= 5x): " + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
