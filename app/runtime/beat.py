"""The beat scheduler: redbeat's, made to ride out a Redis restart instead of exiting.

redbeat extends its lock and reads the schedule from Redis on every tick; a refused connection
there ends `celery beat` with a CRITICAL, and nothing is dispatched until someone restarts it.
This scheduler logs the outage, waits a moment and ticks again; once Redis is back (with its
append-only file, the lock and the schedule are still there) beat carries on by itself.
"""

from __future__ import annotations

import logging
from typing import Any

from redbeat import RedBeatScheduler
from redis.exceptions import LockNotOwnedError

from app.connection import OUTAGE_ERRORS

log = logging.getLogger(__name__)

# Seconds between ticks while Redis cannot be reached.
OUTAGE_TICK = 2.0


class OutageTolerantScheduler(RedBeatScheduler):
    """RedBeatScheduler whose tick survives Redis being down or restarted."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            return super().tick(*args, **kwargs)
        except OUTAGE_ERRORS as exc:
            log.warning("beat: Redis is not reachable (%s); trying again in %.0f s",
                        exc, OUTAGE_TICK)
            return OUTAGE_TICK
        except LockNotOwnedError:
            # Redis came back without the lock (no persistence, or it expired meanwhile): take
            # it again if no other beat has, else stop, as redbeat would have.
            if self.lock is not None and self.lock.acquire(blocking=False):
                log.warning("beat: re-acquired the lock after a Redis restart")
                return OUTAGE_TICK
            raise
