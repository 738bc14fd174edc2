"""App-wide messages: what the engine thread hands to the UI, and what screens tell the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tobs_tui.config import Settings
from tobs_tui.engine import EngineEvent, EngineSnapshot, ExportRequest


class SnapshotArrived(Message):
    """The engine published a snapshot (posted from the engine thread; delivery is coalesced)."""

    def __init__(self, snapshot: EngineSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class EventArrived(Message):
    """The engine reported one event (throttle, FloodWait, chat finished, error)."""

    def __init__(self, event: EngineEvent) -> None:
        super().__init__()
        self.event = event


@dataclass
class LoggedIn(Message):
    """The session is authorised; the chat list can load."""


@dataclass
class ExportFinished(Message):
    """The engine's export future resolved (done, cancelled or failed)."""

    snapshot: EngineSnapshot | None
    error: str | None = None


@dataclass
class ExportRequested(Message):
    """The user asked to export these chats (the chat list posts it; the app starts the run)."""

    request: ExportRequest


@dataclass
class SettingsApplied(Message):
    """The settings screen accepted new values; the app hands them to the running engine."""

    settings: Settings
