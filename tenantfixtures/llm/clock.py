"""Virtual time for the running asyncio loop: timers fire at once, in order, in virtual time.

We drive the loop ourselves rather than through looptime: looptime swaps the loop's class via
pytest-asyncio's loop plumbing and, under pytest-asyncio >= 1, compacts time only in part of the
test, and it does not cover anyio's runner. Attaching to whatever loop runs the test body works
for pytest-asyncio (strict and auto) and anyio alike, and is undone when the test ends.

How: ``loop.time()`` returns virtual time, which starts at 0 when the test body starts; the
selector polls without blocking, and when nothing is ready, virtual time jumps to the next timer's
deadline instead of waiting. Time is set to deadlines, never summed from differences with the real
clock, so ``now()`` is exact whatever the machine's uptime (1 + 2 + 30 + 4 ends at exactly 37).
Only the loop clock is virtual: ``time.monotonic()``, ``time.time()`` and ``datetime`` stay real
(see ``wall_time`` for dates that follow the virtual clock).
"""

from __future__ import annotations

import asyncio
import selectors
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from tenantfixtures.llm.errors import VirtualClockError

_SLEEP_CALLBACK = asyncio.futures._set_result_unless_cancelled  # type: ignore[attr-defined]
_ATTACHED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock] = (
    weakref.WeakKeyDictionary()
)


class _VirtualSelector:
    """The loop's selector, polled instead of blocked on; a wait becomes a jump in time."""

    def __init__(self, real: selectors.BaseSelector, clock: VirtualClock) -> None:
        self.real = real
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:  # no timer pending: only I/O or another thread can wake the loop
            return self.real.select(None)
        events = self.real.select(0)
        if not events and timeout > 0:
            self._clock._advance_to_next_timer()
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class VirtualClock:
    """The ``virtual_clock`` fixture: virtual ``now()``, and the ``sleeps`` the code made."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._elapsed = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_advance: list[Callable[[float], None]] = []

    def __repr__(self) -> str:
        return f"<VirtualClock now={self._elapsed:g}s sleeps={self.sleeps}>"

    def now(self) -> float:
        """Virtual seconds since the test started."""
        return self._elapsed

    @property
    def running(self) -> bool:
        """Whether a loop is running on this clock."""
        return self._loop is not None

    @staticmethod
    def can_drive(loop: asyncio.AbstractEventLoop) -> bool:
        """Whether ``loop`` is asyncio's selector loop, the one kind this clock drives."""
        selector = getattr(loop, "_selector", None)
        return isinstance(loop, asyncio.BaseEventLoop) and isinstance(
            selector, selectors.BaseSelector
        )

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run ``loop`` on virtual time until ``detach()``."""
        if not self.can_drive(loop):
            raise VirtualClockError(
                f"virtual_clock drives asyncio's selector event loop, not {type(loop).__name__}:"
                " run this test on the default asyncio loop (no uvloop)"
            )
        selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
        _rebase(loop, -loop.time())  # timers set before the test body keep their delays
        self._loop = loop
        _ATTACHED[loop] = self
        real_call_later = loop.call_later

        def call_later(delay: float, callback: Callable[..., object], *args: Any, **kw: Any) -> Any:
            if callback is _SLEEP_CALLBACK and delay > 0:  # asyncio.sleep / anyio.sleep
                self.sleeps.append(delay)
            return real_call_later(delay, callback, *args, **kw)

        loop.time = self._time  # type: ignore[method-assign]
        loop.call_later = call_later  # type: ignore[method-assign, assignment]
        loop._selector = _VirtualSelector(selector, self)  # type: ignore[attr-defined]

    def detach(self) -> None:
        """Give the loop its real clock back."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        _ATTACHED.pop(loop, None)
        del loop.time
        del loop.call_later
        loop._selector = loop._selector.real  # type: ignore[attr-defined]
        _rebase(loop, loop.time() - self._elapsed)

    @contextmanager
    def wall_time(self, start: str | datetime) -> Iterator[Any]:
        """Freeze ``datetime.now()``/``time.time()`` at ``start`` (freezegun) and move them with
        the virtual clock, so ``created_at`` columns agree with virtual sleeps."""
        try:
            import freezegun
        except ImportError:  # pragma: no cover - freezegun is in the dev extras
            raise VirtualClockError("virtual_clock.wall_time() needs freezegun installed") from None
        with freezegun.freeze_time(start) as frozen:

            def tick(seconds: float) -> None:
                frozen.tick(timedelta(seconds=seconds))

            self._on_advance.append(tick)
            try:
                yield frozen
            finally:
                self._on_advance.remove(tick)

    def _time(self) -> float:
        return self._elapsed

    def _advance_to_next_timer(self) -> None:
        """Set virtual time to the earliest deadline (the loop has just dropped cancelled
        timers from the head of its heap, so that one is live)."""
        scheduled: list[asyncio.TimerHandle] = self._loop._scheduled  # type: ignore[union-attr]
        if not scheduled or scheduled[0].when() <= self._elapsed:
            return
        before, self._elapsed = self._elapsed, scheduled[0].when()
        for hook in self._on_advance:
            hook(self._elapsed - before)


def _rebase(loop: asyncio.AbstractEventLoop, shift: float) -> None:
    """Move the loop's pending timers to another clock origin; adding one constant to every
    deadline keeps the heap ordered."""
    for handle in loop._scheduled:  # type: ignore[attr-defined]
        handle._when += shift


def running_clock() -> VirtualClock | None:
    """The virtual clock driving the running loop, if any."""
    return _ATTACHED.get(asyncio.get_running_loop())


async def pause(delay: float) -> None:
    """Wait ``delay`` loop seconds without counting as a sleep of the code under test."""
    if delay <= 0:
        return
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    handle = loop.call_later(delay, _wake, waiter)
    try:
        await waiter
    finally:
        handle.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
