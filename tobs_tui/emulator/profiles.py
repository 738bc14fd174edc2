"""Behaviour profiles of the emulated DC (latency, rate limits, media bandwidth, faults) and the per-request decision."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Methods Telethon needs to finish connect(): faults drawn at random never hit them, or a
# hostile profile could stall the handshake instead of exercising the caller's error handling.
BOOTSTRAP_METHODS = frozenset({"GetConfigRequest", "GetStateRequest", "GetDifferenceRequest"})

ACTIONS = ("drop_before_reply", "drop_after_reply", "no_reply", "vanish")


@dataclass(frozen=True)
class Profile:
    """Every knob of the emulated DC; ``Emulator(overrides={...})`` replaces any of them by name."""

    name: str
    latency_ms: float = 0.0  # added before every reply (one round trip, as the client sees it)
    jitter_ms: float = 0.0  # uniform +- jitter on top of latency
    # method -> (tokens per second, burst); "*" applies to every method not listed. Empty = no limits.
    rate_limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    soft_throttle_ms: float = 0.0  # extra latency when a bucket is empty, rising as it drains
    soft_throttle_from: float = 0.5  # share of the burst below which soft throttling starts (linear to empty)
    media_bandwidth: int = 0  # bytes/s for each upload.getFile stream; 0 = unlimited
    media_streams: int = 4  # parts in flight on one connection that each get the full bandwidth
    takeout_factor: float = 1.0  # takeout requests refill their buckets this many times faster
    throttle_every_s: float = 0.0  # a throttle episode starts every N seconds (0 = never)
    throttle_for_s: float = 0.0  # how long each episode lasts
    throttle_latency_ms: float = 0.0  # extra latency during an episode
    # Random faults, each a probability per eligible request (deterministic under the seed).
    flood_wait_rate: float = 0.0  # drains the method's bucket and answers FLOOD_WAIT_X
    flood_premium_rate: float = 0.0  # FLOOD_PREMIUM_WAIT_X
    internal_error_rate: float = 0.0  # 500 INTERNAL
    file_reference_rate: float = 0.0  # FILE_REFERENCE_EXPIRED, upload.getFile only
    takeout_delay_rate: float = 0.0  # TAKEOUT_INIT_DELAY_X, account.initTakeoutSession only
    takeout_delay_s: int = 3600
    drop_before_rate: float = 0.0  # connection closed before the reply (the request is not done)
    drop_after_rate: float = 0.0  # reply written, then the connection closed
    no_reply_rate: float = 0.0  # the reply is silently never sent; only the caller's timeout helps
    fault_wait_s: tuple[int, int] = (1, 3)  # X range for random FLOOD_WAIT_X / FLOOD_PREMIUM_WAIT_X

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Profile:
        if not overrides:
            return self
        known = {f.name for f in dataclasses.fields(self)} - {"name"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"Unknown emulator setting {', '.join(unknown)}; use one of: {', '.join(sorted(known))}.")
        return dataclasses.replace(self, **overrides)

    def bucket(self, method: str) -> tuple[float, float] | None:
        """``(requests per second, burst)`` of the token bucket ``method`` draws from, or None if unlimited."""
        return self.rate_limits.get(method) or self.rate_limits.get("*")

    def history_ceiling_msgs_per_s(self) -> float:
        """The sustained message rate messages.getHistory allows (refill rate x a full page); inf if unlimited."""
        limit = self.bucket("GetHistoryRequest")
        return math.inf if limit is None else limit[0] * HISTORY_PAGE


# Messages one messages.getHistory call returns at most: a history bucket's rate x this is a msgs/s ceiling.
HISTORY_PAGE = 100

# Telegram publishes no numbers; these follow what a hard export meets: about 30 history pages at full
# speed (Telethon's iter_messages starts pacing itself after 3,000 messages for that reason), then about two
# pages a second, replies slowing to ~10x the healthy latency as the bucket empties, then FLOOD_WAIT_X.
_REALISTIC_LIMITS = {
    "GetHistoryRequest": (2.0, 30.0),
    "GetFileRequest": (40.0, 80.0),
    "GetDialogsRequest": (5.0, 10.0),
    "*": (20.0, 40.0),
}
# The fault profiles keep roomier buckets: their episodes and random faults are what they exercise, and
# realistic's paced history would hide those behind long FloodWaits.
_ROOMY_LIMITS = {
    "GetHistoryRequest": (15.0, 30.0),
    "GetFileRequest": (40.0, 80.0),
    "GetDialogsRequest": (5.0, 10.0),
    "*": (20.0, 40.0),
}

PROFILES: dict[str, Profile] = {
    "lan": Profile("lan"),
    "realistic": Profile(
        "realistic",
        latency_ms=60.0,
        jitter_ms=15.0,
        rate_limits=_REALISTIC_LIMITS,
        soft_throttle_ms=600.0,
        soft_throttle_from=0.25,
        media_bandwidth=2 * 1024 * 1024,
        media_streams=4,
        takeout_factor=3.0,
    ),
    "throttled": Profile(
        "throttled",
        latency_ms=60.0,
        jitter_ms=15.0,
        rate_limits={k: (rate / 2, burst / 2) for k, (rate, burst) in _ROOMY_LIMITS.items()},
        soft_throttle_ms=500.0,
        media_bandwidth=512 * 1024,
        media_streams=4,
        takeout_factor=3.0,
        throttle_every_s=20.0,
        throttle_for_s=10.0,
        throttle_latency_ms=400.0,
    ),
    "hostile": Profile(
        "hostile",
        latency_ms=80.0,
        jitter_ms=40.0,
        rate_limits=_ROOMY_LIMITS,
        soft_throttle_ms=250.0,
        media_bandwidth=1024 * 1024,
        media_streams=4,
        takeout_factor=3.0,
        flood_wait_rate=0.03,
        flood_premium_rate=0.01,
        internal_error_rate=0.01,
        file_reference_rate=0.05,
        takeout_delay_rate=0.5,
        takeout_delay_s=5,
        drop_before_rate=0.005,
        drop_after_rate=0.005,
        no_reply_rate=0.002,
    ),
}


# `lan` with a fixed delay before every reply and nothing else: real round-trip times without rate limits, to
# show how far requests in flight carry an export (the bound is requests in flight x 100 messages / round trip).
LATENCY_PROFILES = (50, 100, 200)
PROFILES.update({f"latency{ms}": Profile(f"latency{ms}", latency_ms=float(ms)) for ms in LATENCY_PROFILES})


def get_profile(name: str, overrides: Mapping[str, Any] | None = None) -> Profile:
    """The named profile with ``overrides`` applied; a clear ValueError for unknown names."""
    try:
        base = PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown emulator profile {name!r}; choose one of: {', '.join(PROFILES)}.") from None
    return base.with_overrides(overrides)


def error_code(message: str) -> int:
    """The rpc_error code Telegram pairs with an error message."""
    if message.startswith(("FLOOD_", "TAKEOUT_INIT_DELAY_")):
        return 420
    if message == "Timeout":
        return -503  # Telegram's own: a backend that did not answer in time, sent negative as it is
    if message in ("INTERNAL", "RPC_CALL_FAIL", "RPC_MCGET_FAIL") or message.endswith("_FAILED"):
        return 500
    if message.startswith("AUTH_KEY_"):
        return 401
    return 400


@dataclass(frozen=True, slots=True)
class Decision:
    """What the server does with one request: wait ``delay`` s, then answer ``error`` or run it, then ``action``."""

    delay: float = 0.0
    error: str | None = None
    action: str | None = None  # one of ACTIONS


NO_DELAY = Decision()


@dataclass
class _Script:
    method: str
    nth: int
    peer: int | None
    error: str | None
    action: str | None
    seen: int = 0


class _Bucket:
    __slots__ = ("flood_until", "stamp", "strikes", "tokens")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.stamp = now
        self.flood_until = 0.0  # when the last FloodWait it answered ends
        self.strikes = 0  # requests that came before a FloodWait ended, since the last that did not


class Behaviour:
    """Applies a profile and scripted faults to each request; lives on the server's loop thread."""

    def __init__(self, profile: Profile, seed: int = 1) -> None:
        self._rng = random.Random(seed)
        self._scripts: list[_Script] = []
        self._lock = threading.Lock()  # scripts are added from the caller's thread
        self._epoch = time.monotonic()
        self.set_profile(profile)

    @property
    def profile(self) -> Profile:
        return self._profile

    def set_profile(self, profile: Profile) -> None:
        self._profile = profile
        self._buckets: dict[tuple[int, str], _Bucket] = {}
        # The lan path skips every computation below: it is the benchmark ceiling.
        self._passive = (
            profile.latency_ms == 0
            and profile.jitter_ms == 0
            and not profile.rate_limits
            and profile.throttle_every_s == 0
            and not _has_random_faults(profile)
        )

    def script(
        self,
        method: str,
        nth: int = 1,
        *,
        error: str | None = None,
        action: str | None = None,
        peer: int | None = None,
    ) -> None:
        """The ``nth`` matching call of ``method`` from now on (and on ``peer``, if given) gets the fault, once."""
        if (error is None) == (action is None):
            raise ValueError("A scripted fault needs exactly one of error= or action=.")
        if action is not None and action not in ACTIONS:
            raise ValueError(f"Unknown fault action {action!r}; use one of: {', '.join(ACTIONS)}.")
        if nth < 1:
            raise ValueError("nth counts calls from 1.")
        with self._lock:
            self._scripts.append(_Script(method, nth, peer, error, action))

    def decide(self, method: str, peer: int | None, auth_key_id: int, takeout: bool) -> Decision:
        if self._scripts:
            scripted = self._scripted(method, peer)
            if scripted is not None:
                return Decision(self._latency(), scripted.error, scripted.action)
        if self._passive:
            return NO_DELAY
        p = self._profile
        delay = self._latency()
        if p.throttle_every_s and (time.monotonic() - self._epoch) % p.throttle_every_s < p.throttle_for_s:
            delay += p.throttle_latency_ms / 1000
        limit = p.bucket(method)
        bucket = None
        if limit is not None:
            rate, burst = limit
            if takeout:
                rate *= p.takeout_factor
            bucket = self._bucket(auth_key_id, method, rate, burst)
            if bucket.tokens < 1:
                return Decision(delay, self._flood_wait(bucket, rate))
            knee = burst * p.soft_throttle_from
            if bucket.tokens < knee and p.soft_throttle_ms:
                delay += p.soft_throttle_ms / 1000 * (1 - bucket.tokens / knee)
        if method not in BOOTSTRAP_METHODS and _has_random_faults(p):
            fault = self._random_fault(method, bucket, limit, takeout)
            if fault is not None:
                return Decision(delay, *fault)
        if bucket is not None:
            bucket.tokens -= 1
        return Decision(delay)

    def _flood_wait(self, bucket: _Bucket, rate: float) -> str:
        """FLOOD_WAIT_X for an empty bucket, X the seconds until a token frees. A request that comes before the
        last FloodWait's X ran out is a strike: it costs the bucket as many tokens as there are strikes in a row
        (1, 2, 3 …), so each early retry lengthens the wait, as Telegram's repeated floods do."""
        now = time.monotonic()
        if now < bucket.flood_until:
            bucket.strikes += 1
            bucket.tokens -= bucket.strikes
        else:
            bucket.strikes = 0
        seconds = math.ceil((1 - bucket.tokens) / rate)
        bucket.flood_until = max(bucket.flood_until, now + seconds)
        return f"FLOOD_WAIT_{seconds}"

    def _latency(self) -> float:
        p = self._profile
        if not p.jitter_ms:
            return p.latency_ms / 1000
        return max(0.0, p.latency_ms + self._rng.uniform(-p.jitter_ms, p.jitter_ms)) / 1000

    def _scripted(self, method: str, peer: int | None) -> _Script | None:
        with self._lock:
            for s in self._scripts:
                if s.method == method and (s.peer is None or s.peer == peer):
                    s.seen += 1
                    if s.seen == s.nth:
                        self._scripts.remove(s)
                        return s
        return None

    def _bucket(self, auth_key_id: int, method: str, rate: float, burst: float) -> _Bucket:
        now = time.monotonic()
        key = (auth_key_id, method)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
        return bucket

    def _random_fault(
        self, method: str, bucket: _Bucket | None, limit: tuple[float, float] | None, takeout: bool
    ) -> tuple[str | None, str | None] | None:
        p = self._profile
        roll = self._rng.random()
        lo, hi = p.fault_wait_s
        for rate, make in (
            (p.flood_wait_rate, lambda: self._storm(bucket, limit, takeout, self._rng.randint(lo, hi))),
            (p.flood_premium_rate, lambda: (f"FLOOD_PREMIUM_WAIT_{self._rng.randint(lo, hi)}", None)),
            (p.internal_error_rate, lambda: ("INTERNAL", None)),
            (p.file_reference_rate if method == "GetFileRequest" else 0.0, lambda: ("FILE_REFERENCE_EXPIRED", None)),
            (
                p.takeout_delay_rate if method == "InitTakeoutSessionRequest" else 0.0,
                lambda: (f"TAKEOUT_INIT_DELAY_{p.takeout_delay_s}", None),
            ),
            (p.drop_before_rate, lambda: (None, "drop_before_reply")),
            (p.drop_after_rate, lambda: (None, "drop_after_reply")),
            (p.no_reply_rate, lambda: (None, "no_reply")),
        ):
            if roll < rate:
                return make()
            roll -= rate
        return None

    def _storm(
        self, bucket: _Bucket | None, limit: tuple[float, float] | None, takeout: bool, seconds: int
    ) -> tuple[str, None]:
        # Emptying the bucket makes the next calls flood-wait too until it refills: a storm, not a blip.
        if bucket is not None and limit is not None:
            rate = limit[0] * (self._profile.takeout_factor if takeout else 1)
            bucket.tokens = 1 - seconds * rate
            bucket.flood_until = max(bucket.flood_until, time.monotonic() + seconds)
        return f"FLOOD_WAIT_{seconds}", None


def _has_random_faults(p: Profile) -> bool:
    return any(
        (
            p.flood_wait_rate,
            p.flood_premium_rate,
            p.internal_error_rate,
            p.file_reference_rate,
            p.takeout_delay_rate,
            p.drop_before_rate,
            p.drop_after_rate,
            p.no_reply_rate,
        )
    )
