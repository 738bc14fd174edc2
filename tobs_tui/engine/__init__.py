"""The export engine, and its one public door: the UI, the headless CLI and the benchmarks import from here.

Inside, dependencies point one way (checked by import-linter, see docs/ARCHITECTURE.md):
runner -> pipeline -> media -> render -> telegram | vault -> runtime -> options | snapshot.
The engine never imports textual.

The names below load their module on first use, so a render worker process that imports one renderer does
not load the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tobs_tui.engine.media.downloader import MAX_PARTS_IN_FLIGHT, MediaDownloader
    from tobs_tui.engine.media.stage import ChatContext, media_item
    from tobs_tui.engine.options import ChatSelection, ExportOptions
    from tobs_tui.engine.pipeline.senders import SenderPreloader
    from tobs_tui.engine.render.workers import MAX_RENDER_WORKERS, render_workers_for
    from tobs_tui.engine.runner.runner import (
        BusyError,
        EngineRunner,
        ExportRequest,
        NotConnectedError,
        TelegramRefusedError,
    )
    from tobs_tui.engine.runtime.disk import media_workers_for, resolve_media_workers
    from tobs_tui.engine.runtime.pools import DualPool, TaskPriority
    from tobs_tui.engine.runtime.stats import percentile
    from tobs_tui.engine.snapshot import (
        ChatKind,
        ChatProgress,
        ChatState,
        DcParts,
        DialogInfo,
        EngineEvent,
        EngineSnapshot,
        EventKind,
        LatencySample,
        MediaFileProgress,
        MediaStats,
        PoolStats,
        RunState,
        ThrottleStats,
        TopicInfo,
    )
    from tobs_tui.engine.telegram.backoff import BackoffPolicy, FixedBackoff, FloodDecision, FloodWaitPolicy
    from tobs_tui.engine.telegram.client import CredentialsError, build_client, session_file
    from tobs_tui.engine.telegram.concurrency import AdaptiveLimit
    from tobs_tui.engine.telegram.entities import display_name
    from tobs_tui.engine.telegram.login import LoginError
    from tobs_tui.engine.telegram.source import TelegramSource
    from tobs_tui.engine.telegram.throttle import ThrottleDetector
    from tobs_tui.engine.vault.check import (
        VaultCheck,
        VaultProblem,
        cannot_check,
        check_vault,
        exported_chats,
        mark_media_lost,
    )
    from tobs_tui.engine.vault.filenames import UnsafePathError, chat_dir_name
    from tobs_tui.engine.vault.vault import Vault, VaultLockedError, VaultWriteError

_HOMES = {
    "MAX_PARTS_IN_FLIGHT": "tobs_tui.engine.media.downloader",
    "MediaDownloader": "tobs_tui.engine.media.downloader",
    "ChatContext": "tobs_tui.engine.media.stage",
    "media_item": "tobs_tui.engine.media.stage",
    "ChatSelection": "tobs_tui.engine.options",
    "ExportOptions": "tobs_tui.engine.options",
    "SenderPreloader": "tobs_tui.engine.pipeline.senders",
    "render_workers_for": "tobs_tui.engine.render.workers",
    "MAX_RENDER_WORKERS": "tobs_tui.engine.render.workers",
    "display_name": "tobs_tui.engine.telegram.entities",
    "BusyError": "tobs_tui.engine.runner.runner",
    "TelegramRefusedError": "tobs_tui.engine.runner.runner",
    "EngineRunner": "tobs_tui.engine.runner.runner",
    "ExportRequest": "tobs_tui.engine.runner.runner",
    "NotConnectedError": "tobs_tui.engine.runner.runner",
    "media_workers_for": "tobs_tui.engine.runtime.disk",
    "resolve_media_workers": "tobs_tui.engine.runtime.disk",
    "DualPool": "tobs_tui.engine.runtime.pools",
    "TaskPriority": "tobs_tui.engine.runtime.pools",
    "percentile": "tobs_tui.engine.runtime.stats",
    "ChatKind": "tobs_tui.engine.snapshot",
    "ChatProgress": "tobs_tui.engine.snapshot",
    "ChatState": "tobs_tui.engine.snapshot",
    "DialogInfo": "tobs_tui.engine.snapshot",
    "EngineEvent": "tobs_tui.engine.snapshot",
    "EngineSnapshot": "tobs_tui.engine.snapshot",
    "EventKind": "tobs_tui.engine.snapshot",
    "LatencySample": "tobs_tui.engine.snapshot",
    "DcParts": "tobs_tui.engine.snapshot",
    "MediaFileProgress": "tobs_tui.engine.snapshot",
    "MediaStats": "tobs_tui.engine.snapshot",
    "PoolStats": "tobs_tui.engine.snapshot",
    "RunState": "tobs_tui.engine.snapshot",
    "ThrottleStats": "tobs_tui.engine.snapshot",
    "TopicInfo": "tobs_tui.engine.snapshot",
    "BackoffPolicy": "tobs_tui.engine.telegram.backoff",
    "FixedBackoff": "tobs_tui.engine.telegram.backoff",
    "FloodDecision": "tobs_tui.engine.telegram.backoff",
    "FloodWaitPolicy": "tobs_tui.engine.telegram.backoff",
    "CredentialsError": "tobs_tui.engine.telegram.client",
    "build_client": "tobs_tui.engine.telegram.client",
    "session_file": "tobs_tui.engine.telegram.client",
    "AdaptiveLimit": "tobs_tui.engine.telegram.concurrency",
    "LoginError": "tobs_tui.engine.telegram.login",
    "TelegramSource": "tobs_tui.engine.telegram.source",
    "ThrottleDetector": "tobs_tui.engine.telegram.throttle",
    "VaultCheck": "tobs_tui.engine.vault.check",
    "VaultProblem": "tobs_tui.engine.vault.check",
    "cannot_check": "tobs_tui.engine.vault.check",
    "check_vault": "tobs_tui.engine.vault.check",
    "exported_chats": "tobs_tui.engine.vault.check",
    "mark_media_lost": "tobs_tui.engine.vault.check",
    "UnsafePathError": "tobs_tui.engine.vault.filenames",
    "chat_dir_name": "tobs_tui.engine.vault.filenames",
    "Vault": "tobs_tui.engine.vault.vault",
    "VaultLockedError": "tobs_tui.engine.vault.vault",
    "VaultWriteError": "tobs_tui.engine.vault.vault",
}

__all__ = [
    # running an export
    "EngineRunner",
    "ExportRequest",
    "ChatSelection",
    "ExportOptions",
    # what the engine reports
    "ChatKind",
    "ChatProgress",
    "ChatState",
    "DialogInfo",
    "EngineEvent",
    "EngineSnapshot",
    "EventKind",
    "LatencySample",
    "DcParts",
    "MediaFileProgress",
    "MediaStats",
    "PoolStats",
    "RunState",
    "ThrottleStats",
    "TopicInfo",
    # errors a caller turns into one sentence
    "BusyError",
    "TelegramRefusedError",
    "CredentialsError",
    "LoginError",
    "NotConnectedError",
    "UnsafePathError",
    "VaultLockedError",
    "VaultWriteError",
    # checking a vault against its export state (`tobs-tui verify`)
    "VaultCheck",
    "VaultProblem",
    "cannot_check",
    "check_vault",
    "exported_chats",
    "mark_media_lost",
    # the five mechanisms and the parts the benchmarks measure on their own
    "DualPool",
    "TaskPriority",
    "ThrottleDetector",
    "BackoffPolicy",
    "FixedBackoff",
    "FloodDecision",
    "FloodWaitPolicy",
    "AdaptiveLimit",
    "SenderPreloader",
    "display_name",
    "media_workers_for",
    "resolve_media_workers",
    "render_workers_for",
    "MAX_RENDER_WORKERS",
    "MediaDownloader",
    "MAX_PARTS_IN_FLIGHT",
    "ChatContext",
    "media_item",
    "TelegramSource",
    "Vault",
    "build_client",
    "session_file",
    "chat_dir_name",
    "percentile",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
