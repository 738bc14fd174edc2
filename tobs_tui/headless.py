"""`tobs-tui export` and `tobs-tui chats`: the engine without the TUI (never imports textual).

Progress comes only from the runner's snapshots: Rich bars on a terminal, plain lines otherwise, or one JSON
object per line with --json-progress.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tobs_tui.cli import add_proxy_argument
from tobs_tui.config import Settings, settings_with
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.engine import (
    BusyError,
    ChatSelection,
    ChatState,
    CredentialsError,
    DialogInfo,
    EngineRunner,
    EngineSnapshot,
    ExportRequest,
    MediaStats,
    UnsafePathError,
    VaultLockedError,
    VaultWriteError,
)

# The emulator accepts any credentials; Telethon insists on having some.


class UsageError(Exception):
    """Something on the command line does not fit this account; one sentence."""


# Errors a user can cause or fix: shown as their one sentence, never as a traceback.
_USER_ERRORS = (
    UsageError,
    CredentialsError,
    ConnectionError,
    VaultLockedError,
    VaultWriteError,
    BusyError,
    UnsafePathError,
)


def _add_source_arguments(p: argparse.ArgumentParser) -> None:
    add_proxy_argument(p, default=argparse.SUPPRESS)
    p.add_argument(
        "--emulator",
        nargs="?",
        const="lan",
        default=None,
        metavar="PROFILE",
        help="run against the built-in Telegram emulator (profile: lan, realistic, throttled, hostile)",
    )
    p.add_argument(
        "--world",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --emulator: a world file (JSON or TOML) instead of the synthetic world",
    )


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--chat", action="append", metavar="ID|@USERNAME|TITLE", help="a chat to export (repeatable)")
    which.add_argument("--all", action="store_true", help="export every dialog")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="the vault folder (default: config)")
    p.add_argument(
        "--since", type=_date, default=None, metavar="YYYY-MM-DD", help="on a first export, start at this date"
    )
    p.add_argument("--no-media", action="store_true", help="do not download media files")
    p.add_argument("--takeout", action="store_true", help="ask Telegram for a takeout session (lower limits)")
    p.add_argument("--json-progress", action="store_true", help="print one JSON object per progress update")
    _add_source_arguments(p)


def add_chats_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the dialogs as JSON lines")
    _add_source_arguments(p)


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


class _Session:
    """The runner plus, with --emulator, the in-process emulator behind it."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.emulator = None
        self.settings = settings
        if args.emulator is not None:
            from tobs_tui.emulator import Emulator

            world = str(args.world) if args.world is not None else None
            self.emulator = Emulator(profile=args.emulator, seed=1, world=world).start()
            session: str | Path = self.emulator.session_string(authorized=True)
            api_id, api_hash = DEMO_API_ID, DEMO_API_HASH
        else:
            session = Path(settings.telegram.session_path).expanduser()
            if not session.exists():
                raise UsageError(f"No Telegram session at {session}; run `tobs-tui` once to log in.")
            api_id, api_hash = None, None
        self.runner = EngineRunner(settings, session=session, api_id=api_id, api_hash=api_hash)

    def __enter__(self) -> EngineRunner:
        self.runner.start()
        try:
            if not self.runner.connect().result():
                raise UsageError("This session is not logged in; run `tobs-tui` once to log in.")
        except BaseException:
            self.__exit__()  # `with` calls __exit__ only after __enter__ returned: stop the engine here
            raise
        return self.runner

    def __exit__(self, *exc: object) -> None:
        self.runner.stop()
        if self.emulator is not None:
            self.emulator.stop()


def run_chats(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        with _Session(args, settings) as runner:
            dialogs = runner.list_dialogs().result()
    except _USER_ERRORS as e:
        print(str(e), file=sys.stderr)
        return 2
    if args.json:
        for d in dialogs:
            print(json.dumps({**dataclasses.asdict(d), "kind": d.kind.value}, ensure_ascii=False), file=out)
        return 0
    print(f"{'ID':>15}  {'KIND':<10} {'MESSAGES':>9} {'EXPORTED':>9}  TITLE", file=out)
    for d in dialogs:
        exported = "-" if d.last_exported_id is None else str(d.last_exported_id)
        name = d.title + (f" (@{d.username})" if d.username else "")
        estimate = "-" if d.message_estimate is None else str(d.message_estimate)
        print(f"{d.chat_id:>15}  {d.kind.value:<10} {estimate:>9} {exported:>9}  {name}", file=out)
    print(f"{len(dialogs)} dialogs", file=out)
    return 0


def match_chats(wanted: list[str], dialogs: list[DialogInfo]) -> list[DialogInfo]:
    """Each --chat value by id, @username or exact title (case-insensitive); unknown or ambiguous -> UsageError."""
    chosen: list[DialogInfo] = []
    for value in wanted:
        text = value.strip()
        if text.lstrip("-").isdigit():
            hits = [d for d in dialogs if d.chat_id == int(text)]
        elif text.startswith("@"):
            hits = [d for d in dialogs if d.username and d.username.lower() == text[1:].lower()]
        else:
            hits = [d for d in dialogs if d.title.casefold() == text.casefold()]
        if not hits:
            raise UsageError(f"No chat matches {value!r}; run `tobs-tui chats` to see ids, usernames and titles.")
        if len(hits) > 1:
            ids = ", ".join(str(d.chat_id) for d in hits)
            raise UsageError(f"{value!r} matches several chats ({ids}); pass the id instead.")
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return chosen


def run_export(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.takeout:
        settings = settings_with(settings, "export", takeout=True)
    try:
        session = _Session(args, settings)
        with session as runner:
            dialogs = runner.list_dialogs().result()
            chosen = dialogs if args.all else match_chats(args.chat, dialogs)
            request = ExportRequest(
                chats=tuple(
                    ChatSelection(d.chat_id, download_media=not args.no_media, since=args.since) for d in chosen
                ),
                output_dir=args.out,
            )
            started = time.monotonic()
            final = _follow(runner, runner.start_export(request), args, out, 1.0 / settings.ui.refresh_hz)
            elapsed = time.monotonic() - started
    except _USER_ERRORS as e:
        print(str(e), file=sys.stderr)
        return 2
    if final is None:
        return 130
    _summary(final, elapsed, args, out)
    done = all(c.state is ChatState.DONE for c in final.chats) and not final.errors
    return 0 if done and len(final.chats) == len(chosen) else 1


def _sigterm_as_ctrl_c() -> Callable[[], object]:
    """`kill`, `docker stop` and service managers send SIGTERM: make it stop the export as cleanly as Ctrl-C.
    Returns what undoes it. Handlers can only be set on the main thread; elsewhere SIGTERM keeps its default."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _follow(runner: EngineRunner, future, args, out: TextIO, period: float) -> EngineSnapshot | None:
    """Show progress until the export ends; Ctrl-C or SIGTERM cancels cleanly (the vault stays consistent)."""
    show = _JsonProgress(out) if args.json_progress else (_RichProgress() if out.isatty() else _LineProgress(out))
    restore_sigterm = _sigterm_as_ctrl_c()
    try:
        while True:
            try:
                final = future.result(timeout=period)
            except TimeoutError:
                show.update(runner.snapshot())
                continue
            show.update(final)
            show.close()
            return final
    except KeyboardInterrupt:
        runner.cancel().result()
        show.close()
        return None
    finally:
        restore_sigterm()


class _JsonProgress:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def update(self, s: EngineSnapshot) -> None:
        row = {
            "t": round(s.t, 3),
            "state": s.state.value,
            "messages_done": s.messages_done,
            "messages_expected": s.messages_expected,
            "msgs_per_s": round(s.msgs_per_s, 1),
            "msgs_per_s_instant": round(s.msgs_per_s_instant, 1),
            "bytes_per_s": round(s.bytes_per_s),
            "eta_s": None if s.eta_s is None else round(s.eta_s, 1),
            "requests_in_flight": s.requests_in_flight,
            "concurrency_limit": s.concurrency_limit,
            "flood_waits": s.flood_waits,
            "throttled": s.throttle.is_throttled,
            "avg_latency_ms": round(s.throttle.avg_latency_ms, 2),
            "chats": [
                {"chat_id": c.chat_id, "state": c.state.value, "done": c.messages_done, "expected": c.messages_expected}
                for c in s.chats
            ],
            "media": _media_fields(s.media),
        }
        print(json.dumps(row), file=self.out, flush=True)

    def close(self) -> None:
        pass


def _media_fields(m: MediaStats) -> dict:
    return {
        "files_done": m.files_done,
        "files_failed": m.files_failed,
        "files_skipped": m.files_skipped,
        "files_queued": m.files_queued,
        "files_in_flight": m.files_in_flight,
        "parts_in_flight": m.parts_in_flight,
        "bytes_done": m.bytes_done,
        "bytes_expected": m.bytes_expected,
        "bytes_per_s": round(m.bytes_per_s),
        "by_dc": [{"dc": d.dc, "in_flight": d.in_flight, "done": d.done, "bytes": d.bytes} for d in m.by_dc],
    }


def _media_text(m: MediaStats) -> str:
    if not (m.bytes_expected or m.files_done or m.files_failed):
        return ""
    failed = f", {m.files_failed} failed" if m.files_failed else ""
    return (
        f"  media {m.bytes_done / 1e6:.1f}/{m.bytes_expected / 1e6:.1f} MB {m.bytes_per_s / 1e6:.1f} MB/s "
        f"({m.files_done} files{failed}, {m.files_in_flight} in flight, {m.parts_in_flight} parts)"
    )


class _LineProgress:
    """For logs and pipes: a line at most every few seconds."""

    def __init__(self, out: TextIO, every_s: float = 2.0) -> None:
        self.out = out
        self.every_s = every_s
        self._last = 0.0

    def update(self, s: EngineSnapshot) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s and s.state.value in ("running", "paused"):
            return
        self._last = now
        eta = "-" if s.eta_s is None else f"{s.eta_s:.0f}s"
        finished = sum(c.state is not ChatState.RUNNING and c.state is not ChatState.QUEUED for c in s.chats)
        print(
            f"{s.messages_done}/{s.messages_expected} messages  {s.msgs_per_s:.0f} msg/s  ETA {eta}  "
            f"chats {finished}/{len(s.chats)}  in flight {s.requests_in_flight}/{s.concurrency_limit}  "
            f"FloodWaits {s.flood_waits}{_media_text(s.media)}",
            file=self.out,
            flush=True,
        )

    def close(self) -> None:
        pass


class _RichProgress:
    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        self._progress.start()
        self._total = self._progress.add_task("total", total=None, rate="")
        self._tasks: dict[int, int] = {}

    def update(self, s: EngineSnapshot) -> None:
        for c in s.chats:
            task = self._tasks.get(c.chat_id)
            if task is None:
                task = self._tasks[c.chat_id] = self._progress.add_task(c.title[:40], total=None, rate="")
            self._progress.update(
                task,
                completed=c.messages_done,
                total=max(1, c.messages_expected),
                rate=f"{c.msgs_per_s:.0f} msg/s {c.state.value}",
            )
        self._progress.update(
            self._total, completed=s.messages_done, total=max(1, s.messages_expected), rate=f"{s.msgs_per_s:.0f} msg/s"
        )

    def close(self) -> None:
        self._progress.stop()


def _summary(s: EngineSnapshot, elapsed: float, args, out: TextIO) -> None:
    if args.json_progress:
        print(
            json.dumps(
                {
                    "summary": {
                        "state": s.state.value,
                        "messages": s.messages_done,
                        "elapsed_s": round(elapsed, 2),
                        "flood_waits": s.flood_waits,
                        "errors": list(s.errors),
                        "media": _media_fields(s.media),
                        "chats": [
                            {
                                "chat_id": c.chat_id,
                                "title": c.title,
                                "state": c.state.value,
                                "messages": c.messages_done,
                                "error": c.error,
                            }
                            for c in s.chats
                        ],
                    }
                },
                ensure_ascii=False,
            ),
            file=out,
        )
        return
    rate = s.messages_done / elapsed if elapsed > 0 else 0.0
    chats = f"{len(s.chats)} chat" + ("" if len(s.chats) == 1 else "s")
    print(
        f"Exported {s.messages_done} messages from {chats} in {elapsed:.1f} s ({rate:.0f} msg/s), "
        f"{s.flood_waits} FloodWaits.{_media_text(s.media)}",
        file=out,
    )
    for c in s.chats:
        line = f"  {c.state.value:<9} {c.messages_done:>8}  {c.title}"
        if c.error:
            line += f" — {c.error}"
        print(line, file=out)
    for err in s.errors:
        if not any(err == c.error for c in s.chats):
            print(f"  error: {err}", file=out)
