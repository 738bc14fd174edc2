"""FloodWait policy: how long to wait after Telegram says FLOOD_WAIT_X, given the throttle state.

`FloodWaitPolicy` is the adaptive policy the engine uses; `FixedBackoff` is the plain `s + 1`
policy kept for the benchmark A/B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

_SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class FloodDecision:
    action: Literal["wait", "give_up"]
    wait_s: float  # "wait": sleep this long, then retry; "give_up": when the chat may resume
    # "wait": why the wait is longer than Telegram asked, as a clause the caller puts in its one sentence
    # ("1 s of margin"); "give_up": the whole sentence for the user.
    reason: str


class BackoffPolicy(Protocol):
    def decide(
        self, seconds: int, *, throttled: bool, premium: bool = False, consecutive: int = 0
    ) -> FloodDecision: ...


def _check_seconds(seconds: int) -> None:
    if seconds < 0:
        raise ValueError(f"a FloodWait cannot be negative (got {seconds})")


def _hours(seconds: float) -> str:
    return f"{seconds / _SECONDS_PER_HOUR:.1f} h"


def _give_up(seconds: int) -> FloodDecision:
    return FloodDecision(
        "give_up",
        float(seconds),
        f"Telegram asked for a wait of {_hours(seconds)} ({seconds} s); the chat is parked and the next run continues it.",
    )


class FloodWaitPolicy:
    """Adaptive: pad the wait while the server is throttling us, park the chat on waits of hours.

    The extra padding matters because a retry that lands while the server is still throttling
    earns a new (usually longer) FloodWait; a wait of hours means a daily limit was hit and
    sleeping inside the run would freeze every other chat.
    """

    def __init__(
        self,
        *,
        extra_cap_s: float = 60.0,
        give_up_after_s: float = _SECONDS_PER_HOUR,
        max_wait_s: float = _SECONDS_PER_HOUR,
    ) -> None:
        if extra_cap_s < 0:
            raise ValueError(f"extra_cap_s must be >= 0 (got {extra_cap_s})")
        if give_up_after_s <= 0:
            raise ValueError(f"give_up_after_s must be > 0 (got {give_up_after_s})")
        if max_wait_s <= 0:
            raise ValueError(f"max_wait_s must be > 0 (got {max_wait_s})")
        self.extra_cap_s = extra_cap_s
        self.give_up_after_s = give_up_after_s
        self.max_wait_s = max_wait_s

    def decide(self, seconds: int, *, throttled: bool, premium: bool = False, consecutive: int = 0) -> FloodDecision:
        """`consecutive` counts the FloodWaits in a row on this chat without a success between."""
        _check_seconds(seconds)
        if seconds >= self.give_up_after_s:
            return _give_up(seconds)
        if premium:
            # FLOOD_PREMIUM_WAIT is a download-speed cap for non-Premium accounts, not a penalty:
            # waiting longer than asked does not lift it, so only the usual one-second margin.
            return FloodDecision("wait", seconds + 1.0, "the download speed limit of accounts without Premium")
        # Two FloodWaits in a row mean the server is pacing us even if the latency window has
        # not caught up yet (the detector needs samples; a flood can come first).
        pacing = throttled or consecutive >= 2
        extra = min(0.5 * seconds, self.extra_cap_s) if pacing else 1.0
        # The cap trims our padding only; we never retry before Telegram's own deadline.
        wait = max(float(seconds), min(seconds + extra, self.max_wait_s))
        margin = f"{wait - seconds:g} s of margin"
        if throttled:
            margin += " while Telegram is slowing our requests"
        elif pacing:
            margin += f" after {consecutive} FloodWaits in a row"
        return FloodDecision("wait", wait, margin)


class FixedBackoff:
    """The plain `s + 1` policy (no throttle awareness) for the benchmark A/B."""

    def __init__(self, *, give_up_after_s: float = _SECONDS_PER_HOUR) -> None:
        if give_up_after_s <= 0:
            raise ValueError(f"give_up_after_s must be > 0 (got {give_up_after_s})")
        self.give_up_after_s = give_up_after_s

    def decide(self, seconds: int, *, throttled: bool, premium: bool = False, consecutive: int = 0) -> FloodDecision:
        _check_seconds(seconds)
        if seconds >= self.give_up_after_s:
            return _give_up(seconds)
        return FloodDecision("wait", seconds + 1.0, "1 s of margin")
