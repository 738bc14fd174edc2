"""Secrets typed at a login (not in the config, so unknown when logging began) are cleaned out of the log too."""

from __future__ import annotations

import logging

from tobs_tui import redaction
from tobs_tui.cli import SecretRedactor
from tobs_tui.config import Settings
from tobs_tui.engine import EngineRunner


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_secret_made_known_after_logging_began_is_redacted():
    kept = Kept()
    kept.addFilter(SecretRedactor(["configured-hash-0000"]))
    log = logging.getLogger("tobs-test-redaction")
    log.addHandler(kept)
    log.propagate = False
    try:
        log.warning("a %s and a %s", "configured-hash-0000", "typed-password-1234")
        redaction.add("typed-password-1234")
        log.warning("again a %s", "typed-password-1234")
    finally:
        log.removeHandler(kept)
    assert kept.lines == ["a [redacted] and a typed-password-1234", "again a [redacted]"]


def test_the_engine_makes_what_is_typed_at_a_login_known():
    typed = "0123456789abcdef0123456789abcdef"
    EngineRunner(Settings(), session="", api_id=1, api_hash=typed)  # not started: nothing else happens
    assert typed in redaction.known()
