"""Which thread runs a method, made visible: `@pool_side` marks disk, SQLite and CPU work for a DualPool worker
thread, `@loop_side` state that only the engine loop touches. The check is off unless switched on (the tests
switch it on: TOBS_CHECK_THREADS=1 in tests/conftest.py), so in production it costs one global read a call."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

CHECKING = os.environ.get("TOBS_CHECK_THREADS") == "1"


_local = threading.local()


def mark_pool_thread() -> None:
    """Called once by each DualPool worker thread as it starts."""
    _local.pool = True


def on_pool_thread() -> bool:
    return getattr(_local, "pool", False)


class WrongThreadError(AssertionError):
    """A method marked for one thread ran on another: a programming error, never a user's."""


def _check(fn: Callable[P, R], wanted: Callable[[bool], bool], where: str) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if CHECKING and not wanted(on_pool_thread()):
            name = threading.current_thread().name
            raise WrongThreadError(f"{fn.__qualname__} runs {where}, not on thread {name!r}")
        return fn(*args, **kwargs)

    return wrapper


def pool_side(fn: Callable[P, R]) -> Callable[P, R]:
    """Disk, SQLite or CPU work that must run on a DualPool worker thread, never on the engine loop."""
    return _check(fn, lambda pool: pool, "on a pool thread")


def loop_side(fn: Callable[P, R]) -> Callable[P, R]:
    """State that only the engine loop touches (no lock guards it): never run on a pool thread."""
    return _check(fn, lambda pool: not pool, "on the engine loop")
