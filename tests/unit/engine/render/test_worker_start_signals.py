"""A Ctrl-C or SIGTERM while a render worker process is being started takes effect after the start, not inside it."""

from __future__ import annotations

import signal
import threading

import pytest

from tobs_tui.engine.render.workers import _stop_signals_held


def test_ctrl_c_during_a_worker_start_is_raised_once_it_is_whole():
    steps = []
    with pytest.raises(KeyboardInterrupt), _stop_signals_held():
        signal.raise_signal(signal.SIGINT)
        steps.append("the worker got what it is to run")  # inside, the interrupt waited
    assert steps == ["the worker got what it is to run"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_a_ctrl_c_nothing_is_raised_and_the_handler_is_put_back():
    with _stop_signals_held():
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_off_the_main_thread_it_changes_no_handler():
    seen = []

    def start() -> None:
        with _stop_signals_held():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    assert seen == [signal.default_int_handler]


def test_a_sigterm_during_a_worker_start_takes_effect_once_it_is_whole():
    steps = []

    def stop(signum, frame):
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(SystemExit), _stop_signals_held():
            signal.raise_signal(signal.SIGTERM)
            steps.append("the worker got what it is to run")  # inside, the SIGTERM waited
        assert steps == ["the worker got what it is to run"]
        assert signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, previous)
