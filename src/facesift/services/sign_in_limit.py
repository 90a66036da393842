"""Failed sign-ins counted by client address, in memory, so a flood is refused before hashing.

Why: a password check is argon2id, 0.2-0.4 s of CPU on purpose. The lock-out by name (the
audit log counts a name's failures) does nothing against one client trying a new name each
time: in the security test of issue 12, such a client pushed another user's ``GET /api/me``
p99 from 20 ms to 305 ms. Counting failures per address, and refusing an address over the
limit with no hash and no database write (one audit entry per window says it happened),
bounds what one client can cost everyone else. Two bounds:
- at most one password check in flight per address: a second one at the same time is
  refused at once, so one client never holds more than one hash's worth of CPU;
- at most ``MAX_FAILURES_PER_ADDRESS`` failures per address in ``WINDOW_SECONDS``.

In memory, per server process: a refusal must cost next to nothing, and a restart forgetting
the count only gives a client one more window. Behind a reverse proxy every client has the
proxy's address; see the README on which headers the server then trusts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

MAX_FAILURES_PER_ADDRESS = 10
WINDOW_SECONDS = 300.0
MAX_ADDRESSES = 10_000  # the table itself is bounded: the oldest address is forgotten first


class SignInLimiter:
    def __init__(
        self, limit: int = MAX_FAILURES_PER_ADDRESS, window_seconds: float = WINDOW_SECONDS
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._refused: dict[str, float] = {}  # address -> when its current refusal began
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def checking(self, address: str) -> Iterator[bool]:
        """Hold the address's one password check; yields False if one is already running."""
        if not address:
            yield True
            return
        with self._lock:
            busy = address in self._in_flight
            self._in_flight.add(address)
        try:
            yield not busy
        finally:
            if not busy:
                with self._lock:
                    self._in_flight.discard(address)

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        return times

    def blocked(self, address: str) -> bool:
        if not address:
            return False
        with self._lock:
            return len(self._recent(address, time.monotonic())) >= self._limit

    def first_refusal(self, address: str) -> bool:
        """True once per window for a refused address: that refusal is audited."""
        now = time.monotonic()
        with self._lock:
            began = self._refused.get(address)
            if began is not None and began > now - self._window:
                return False
            self._refused[address] = now
            return True

    def failed(self, address: str) -> None:
        if not address:
            return
        now = time.monotonic()
        with self._lock:
            times = self._failures.pop(address, None) or deque()
            times.append(now)
            while len(times) > self._limit:
                times.popleft()
            self._failures[address] = times  # re-inserted: the dict is oldest-first
            while len(self._failures) > MAX_ADDRESSES:
                del self._failures[next(iter(self._failures))]
            while len(self._refused) > MAX_ADDRESSES:
                del self._refused[next(iter(self._refused))]
