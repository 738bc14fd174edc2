"""The engine on its own thread with its own asyncio loop (runner.py), driven by thread-safe commands, and the
progress its snapshots report (progress.py)."""

from tobs_tui.engine.runner.runner import BusyError, EngineRunner, ExportRequest, NotConnectedError

__all__ = ["BusyError", "EngineRunner", "ExportRequest", "NotConnectedError"]
