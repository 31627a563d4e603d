"""Many messages over a few SMTP sessions at once, each session reused for many messages.

An SMTP transaction is a handful of round trips, so one session spends most of its time waiting
for the server; a few sessions side by side keep the line busy. Each session lives in its own
thread with its own SmtpSender.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from app.mail.smtp import SmtpConfig, SmtpSender

T = TypeVar("T")
R = TypeVar("R")
_FINISHED = object()


def send_parallel(
    items: Iterable[T],
    send: Callable[[SmtpSender, T], R],
    config: SmtpConfig | None = None,
    connections: int = 1,
) -> Iterator[tuple[T, R]]:
    """Yield (item, send(sender, item)) as each finishes, over at most `connections` sessions.

    The first exception `send` raises stops handing out items; once the sends in flight have
    ended it is raised to the caller. Closing the generator early stops the same way. Sessions
    run at most two items per connection ahead of the caller, so a slow caller that stops early
    has not sent the rest behind its back.
    """
    source = iter(items)
    take = threading.Lock()
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    sessions = max(1, connections)
    headroom = threading.Semaphore(2 * sessions)

    def wait_for_headroom() -> bool:
        while not headroom.acquire(timeout=0.05):
            if stop.is_set():
                return False
        return not stop.is_set()

    def session() -> None:
        try:
            with SmtpSender(config) as sender:
                while wait_for_headroom():
                    with take:
                        item = next(source, _FINISHED)
                    if item is _FINISHED:
                        return
                    try:
                        results.put((item, send(sender, item), None))
                    except BaseException as exc:
                        results.put((item, None, exc))
                        stop.set()
                        return
        finally:
            results.put(_FINISHED)

    threads = [threading.Thread(target=session, daemon=True) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    yield from _collect(results, len(threads), stop, threads, headroom)


def _collect(
    results: queue.Queue,
    sessions: int,
    stop: threading.Event,
    threads: list[threading.Thread],
    headroom: threading.Semaphore,
) -> Iterator[tuple]:
    error: BaseException | None = None
    ended = 0
    try:
        while ended < sessions:
            entry = results.get()
            if entry is _FINISHED:
                ended += 1
            elif entry[2] is not None:
                error = error or entry[2]
            else:
                yield entry[0], entry[1]
                headroom.release()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if error is not None:
        raise error
