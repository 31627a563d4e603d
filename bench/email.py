"""Bulk email throughput: reused SMTP sessions against one connection per message.

    .venv/bin/python bench/email.py [--messages 2000] [--security both|none|starttls]
                                    [--connections 4]

Every mode renders and builds the same kind of personalised message and sends it to a local
aiosmtpd server (a separate process, so client and server do not share a GIL), in the same run:
  naive    one connection per message, one message at a time (the baseline);
  reuse-1  one session reused for every message;
  bulk     what send_bulk_emails does: EMAIL_BULK_CONNECTIONS sessions side by side, each
           reused for many messages (app.mail.bulk.send_parallel).
By default it runs every mode twice: over plain SMTP, then over STARTTLS against a server that
requires it, with a self-signed RSA-2048 certificate made at start (the client trusts it the
way SMTP_CA_FILE makes the app trust one: verification stays on). Every STARTTLS connection pays
a TLS handshake, as real relays demand. It prints messages per second and each ratio to its own
baseline. Targets: bulk >= 800 msg/s plain, and >= 3x naive over STARTTLS.
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
            # With a certificate, nothing is accepted before STARTTLS: the client cannot skip it.
            lambda: SMTP(handler, hostname="bench.local", tls_context=tls,
                         require_starttls=tls is not None),
            "127.0.0.1", port,
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        async with server:
            await stop.wait()
        print(handler.count, time.process_time(), flush=True)

    asyncio.run(main())


def make_certificate(folder: Path) -> None:
    """A self-signed certificate for 127.0.0.1, valid for a day: cert.pem and key.pem."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))


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
    parser.add_argument("--security", choices=("both", "none", "starttls"), default="both")
    parser.add_argument("--connections", type=int, default=get_settings().email_bulk_connections)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cert-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.cert_dir)
        return 0
    securities = ("none", "starttls") if args.security == "both" else (args.security,)
    figures = {security: run_all(security, args) for security in securities}
    return report(figures, args)


def run_all(security: str, args: argparse.Namespace) -> dict:
    """Every mode against a fresh server of that security: seconds per mode, server counts."""
    port = free_port()
    cert_dir = Path(tempfile.mkdtemp(prefix="nexus-bench-")) if security != "none" else None
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
            security=security,
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
        if cert_dir:
            shutil.rmtree(cert_dir, ignore_errors=True)
    return {"runs": runs, "received": int(received), "server_cpu": float(server_cpu)}


TARGETS = {"none": ("bulk >= 800 msg/s", lambda rate, ratio: rate >= 800),
           "starttls": ("bulk >= 3x naive", lambda rate, ratio: ratio >= 3)}


def report(figures: dict[str, dict], args: argparse.Namespace) -> int:
    n = args.messages
    labels = {
        "naive": "one connection per message",
        "reuse-1": "one reused connection",
        "bulk": f"{args.connections} reused connections",
    }
    print(f"{n} personalised messages per mode, bulk connections={args.connections}")
    print(f"{'':38}" + "".join(f"{s:>22}" for s in figures))
    for mode in labels:
        cells = []
        for data in figures.values():
            rate = n / data["runs"][mode][0]
            base = n / data["runs"]["naive"][0]
            cells.append(f"{rate:9.1f} msg/s {rate / base:5.1f}x")
        print(f"{mode:8} {labels[mode]:29}" + "".join(f"{c:>22}" for c in cells))
    ok = True
    for security, data in figures.items():
        received, cpu = data["received"], data["server_cpu"]
        print(f"{security}: server received {received} of {3 * n}, using "
              f"{cpu / max(received, 1) * 1000:.2f} ms of CPU per message")
        rate = n / data["runs"]["bulk"][0]
        ratio = rate / (n / data["runs"]["naive"][0])
        text, met = TARGETS[security]
        met = met(rate, ratio) and received == 3 * n
        ok = ok and met
        print(f"target {security} ({text}): " + ("met" if met else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
