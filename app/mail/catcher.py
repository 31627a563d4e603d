"""A local SMTP catcher: accepts every message and stores it under a folder as an .eml file.

    python -m app.mail.catcher --dir var/mail --port 1025

`make run` starts it so sending works with no configuration; the Email page reads the folder.
It relays nothing: a message sent here never leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from app.mail import inbox

log = logging.getLogger("nexus.catcher")
MAX_MESSAGE_BYTES = 50 * 1024 * 1024


class StoringHandler:
    """aiosmtpd handler that writes each message, byte for byte, into `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        mail_from = envelope.mail_from or ""
        name = await asyncio.to_thread(
            inbox.store, self.folder, data, mail_from, list(envelope.rcpt_tos), peer
        )
        log.info("Stored %s from %s for %d recipient(s)", name, mail_from,
                 len(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def make_server(folder: Path, hostname: str = "nexus-catcher") -> SMTP:
    """One SMTP protocol instance for the catcher (aiosmtpd makes one per connection)."""
    return SMTP(StoringHandler(folder), hostname=hostname, enable_SMTPUTF8=True,
                data_size_limit=MAX_MESSAGE_BYTES)


async def serve(folder: Path, host: str, port: int) -> None:
    """Accept mail on host:port until SIGINT or SIGTERM."""
    folder.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: make_server(folder), host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("Mail catcher listening on %s:%d, storing messages in %s", host, port, folder)
    async with server:
        await stop.wait()
    log.info("Mail catcher stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.mail.catcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"),
                        help="folder the .eml files go to (default: var/mail)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=1025, help="port to listen on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(args.dir.resolve(), args.host, args.port))
    except OSError as exc:
        print(f"The mail catcher could not listen on {args.host}:{args.port}: {exc.strerror}.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
