"""`tobs-tui export` and `tobs-tui chats`: the engine without the TUI (never imports textual).

Progress comes only from the runner's snapshots: Rich bars on a terminal, plain lines otherwise, or one JSON
object per line with --json-progress.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from tobs_tui.cli import INTERRUPTED, add_proxy_argument, folder_path, readable_file
from tobs_tui.config import Settings, settings_with
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.profiles import PROFILES
from tobs_tui.engine import (
    BusyError,
    ChatSelection,
    ChatState,
    CredentialsError,
    DialogInfo,
    EngineEvent,
    EngineRunner,
    EngineSnapshot,
    EventKind,
    ExportRequest,
    MediaStats,
    TelegramRefusedError,
    UnsafePathError,
    VaultCheck,
    VaultLockedError,
    VaultWriteError,
    cannot_check,
    check_vault,
    exported_chats,
    mark_media_lost,
    session_file,
)
from tobs_tui.terminal import terminal_json, terminal_text

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
    TelegramRefusedError,
)


def _add_source_arguments(p: argparse.ArgumentParser) -> None:
    add_proxy_argument(p, default=argparse.SUPPRESS)
    p.add_argument(
        "--emulator",
        nargs="?",
        const="lan",
        default=None,
        choices=sorted(PROFILES),
        metavar="PROFILE",
        help=f"run against the built-in Telegram emulator (profile: {', '.join(PROFILES)}; default lan)",
    )
    p.add_argument(
        "--world",
        type=readable_file,
        default=None,
        metavar="FILE",
        help="with --emulator: a world file (JSON or TOML) instead of the synthetic world",
    )


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--chat", action="append", metavar="ID|@USERNAME|TITLE", help="a chat to export (repeatable)")
    which.add_argument("--all", action="store_true", help="export every dialog")
    p.add_argument("--out", type=folder_path, default=None, metavar="DIR", help="the vault folder (default: config)")
    p.add_argument(
        "--since",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="on a first export, start at this date (a chat exported before continues after its last message)",
    )
    p.add_argument(
        "--backfill",
        action="store_true",
        help="on a chat exported before, also fetch the messages older than its first exported one "
        "(from --since, else from the beginning)",
    )
    p.add_argument("--no-media", action="store_true", help="do not download media files")
    p.add_argument("--takeout", action="store_true", help="ask Telegram for a takeout session (lower limits)")
    p.add_argument("--json-progress", action="store_true", help="print one JSON object per progress update")
    _add_source_arguments(p)


def add_chats_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the dialogs as JSON lines")
    _add_source_arguments(p)


def add_verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=folder_path, default=None, metavar="DIR", help="the vault folder (default: config)")
    p.add_argument(
        "--repair", action="store_true", help="export the chats with problems again, fetching what is missing"
    )
    _add_source_arguments(p)


def _date(text: str) -> datetime.date:
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None
    # A day ahead of this machine's clock is still today somewhere.
    if day > datetime.date.today() + datetime.timedelta(days=1):
        raise argparse.ArgumentTypeError(f"{text} is in the future, so no message is from then yet; give a past date")
    return day


class _Session:
    """The runner plus, with --emulator, the in-process emulator behind it."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.emulator = None
        self.settings = settings
        if args.world is not None and args.emulator is None:
            raise UsageError("--world gives the emulator its world; add --emulator.")
        if args.emulator is not None:
            from tobs_tui.emulator import Emulator

            world = str(args.world) if args.world is not None else None
            try:
                emulator = Emulator(profile=args.emulator, seed=1, world=world)
            except ValueError as e:
                if world is None:
                    raise
                raise UsageError(str(e)) from None  # the world file's reader names the file and the fault
            self.emulator = emulator.start()
        try:
            self.runner = self._make_runner(args, settings)
        except BaseException:  # a Ctrl-C while the engine loads: the emulator's loop stops, not left running
            if self.emulator is not None:
                self.emulator.stop()
            raise

    def _make_runner(self, args: argparse.Namespace, settings: Settings) -> EngineRunner:
        if self.emulator is not None:
            session: str | Path = self.emulator.session_string(authorized=True)
            api_id, api_hash = DEMO_API_ID, DEMO_API_HASH
        else:
            session = Path(settings.telegram.session_path).expanduser()
            if not session_file(session).is_file():
                raise UsageError(f"No Telegram session at {session_file(session)}; run `tobs-tui` once to log in.")
            api_id, api_hash = None, None
        # What the engine found changed in the vault (edits kept, files repaired): said in the summary.
        self.vault_notices: list[str] = []
        return EngineRunner(settings, session=session, api_id=api_id, api_hash=api_hash, on_event=self._on_event)

    def _on_event(self, event: EngineEvent) -> None:
        if event.kind is EventKind.VAULT:
            self.vault_notices.append(event.message)  # on the engine thread; read after the export ended

    def __enter__(self) -> EngineRunner:
        try:
            self.runner.start()
            if not self.runner.connect().result():
                raise UsageError("This session is not logged in; run `tobs-tui` once to log in.")
        except BaseException:  # a refusal or Ctrl-C while connecting: stop what started (no __exit__ follows)
            self.__exit__(None, None, None)
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
            dialogs = with_counts(runner, runner.list_dialogs().result())
    except _USER_ERRORS as e:
        print(terminal_text(str(e)), file=sys.stderr)
        return 2
    if args.json:
        for d in dialogs:
            print(terminal_json({**dataclasses.asdict(d), "kind": d.kind.value}), file=out)
        return 0
    print(f"{'ID':>15}  {'KIND':<10} {'MESSAGES':>9} {'EXPORTED':>9}  TITLE", file=out)
    for d in dialogs:
        exported = "-" if d.last_exported_id is None else str(d.last_exported_id)
        name = terminal_text(d.title + (f" (@{d.username})" if d.username else ""))
        estimate = "-" if d.message_estimate is None else str(d.message_estimate)
        print(f"{d.chat_id:>15}  {d.kind.value:<10} {estimate:>9} {exported:>9}  {name}", file=out)
    print(f"{len(dialogs)} dialogs", file=out)
    return 0


def with_counts(runner: EngineRunner, dialogs: list[DialogInfo], chunk: int = 50) -> list[DialogInfo]:
    """The dialogs with a message count where ids cannot tell (private chats, bots, basic groups): one history
    call of one message each, `chunk` chats per runner call, through the export's request limit and FloodWait
    handling. A chat that cannot be read now keeps its unknown size."""
    unknown = [d.chat_id for d in dialogs if d.message_estimate is None]
    counts: dict[int, int] = {}
    for start in range(0, len(unknown), chunk):
        counts.update(runner.message_counts(unknown[start : start + chunk]).result())
    return [dataclasses.replace(d, message_count=counts[d.chat_id]) if d.chat_id in counts else d for d in dialogs]


def match_chats(
    wanted: list[str],
    dialogs: list[DialogInfo],
    exported: Callable[[], Sequence[tuple[int, str, str | None]]] = tuple,
    gone: list[str] | None = None,
) -> list[DialogInfo]:
    """Each --chat value by id, @username or exact title (case-insensitive; the same case wins over others);
    unknown or ambiguous -> UsageError. `exported()`: (id, title, username) of the chats the vault holds, asked
    only for a value no listed chat matches, so one naming a chat that has left the chat list is said to be
    that, not a typo; with `gone` given, such a value's sentence is added to it and the others go on (a repair
    of several chats)."""
    chosen: list[DialogInfo] = []
    for value in wanted:
        text = value.strip()
        hits = _matches(text, [(d.chat_id, d.title, d.username) for d in dialogs])
        if len(hits) > 1:
            exact = [h for h in hits if not text.lstrip("-").isdigit() and not text.startswith("@") and h[1] == text]
            hits = exact if len(exact) == 1 else hits
        if not hits:
            left = _matches(text, list(exported()))
            if len(left) == 1:
                chat_id, title, _ = left[0]
                said = (
                    f'"{terminal_text(title)}" ({chat_id}) is no longer in your chat list (it was deleted, or you'
                    " left it), so it cannot be exported again; what was exported of it stays in the vault."
                )
                if gone is None:
                    raise UsageError(said)
                gone.append(said)
                continue
            raise UsageError(f"No chat matches {value!r}; run `tobs-tui chats` to see ids, usernames and titles.")
        if len(hits) > 1:
            ids = ", ".join(str(hit[0]) for hit in hits)
            raise UsageError(f"{value!r} matches several chats ({ids}); pass the id instead.")
        found = next(d for d in dialogs if d.chat_id == hits[0][0])
        if found not in chosen:
            chosen.append(found)
    return chosen


def _matches(text: str, chats: list[tuple[int, str, str | None]]) -> list[tuple[int, str, str | None]]:
    if text.lstrip("-").isdigit():
        return [c for c in chats if c[0] == int(text)]
    if text.startswith("@"):
        return [c for c in chats if c[2] and c[2].lower() == text[1:].lower()]
    return [c for c in chats if c[1].casefold() == text.casefold()]


def run_export(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    run_started = getattr(args, "started", None) or time.monotonic()
    if args.takeout:
        settings = settings_with(settings, "export", takeout=True)
    try:
        session = _Session(args, settings)
        with session as runner:
            dialogs = runner.list_dialogs().result()
            gone: list[str] | None = [] if getattr(args, "skip_gone", False) else None
            vault_chats = functools.partial(_exported_chats, args, settings)
            chosen = dialogs if args.all else match_chats(args.chat, dialogs, vault_chats, gone)
            for said in gone or ():
                print(said, file=sys.stderr)
            if not chosen and gone:
                return 1
            request = ExportRequest(
                chats=tuple(
                    ChatSelection(d.chat_id, download_media=not args.no_media, since=args.since, backfill=args.backfill)
                    for d in chosen
                ),
                output_dir=args.out,
            )
            started = time.monotonic()
            final = _follow(runner, runner.start_export(request), args, out, 1.0 / settings.ui.refresh_hz)
            elapsed = time.monotonic() - started
    except _USER_ERRORS as e:
        print(terminal_text(str(e)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) before the export began, or a second one while it stopped
        final = None
    if final is None:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    _summary(final, elapsed, time.monotonic() - run_started, args, out, session.vault_notices)
    done = all(c.state is ChatState.DONE for c in final.chats) and not final.errors
    return 0 if done and len(final.chats) == len(chosen) and not gone else 1


def _exported_chats(args: argparse.Namespace, settings: Settings) -> list[tuple[int, str, str | None]]:
    """(id, title, username) of the chats the vault at --out holds, read as verify reads it (nothing written)."""
    vault = Path(args.out or settings.export.output_dir).expanduser()
    return exported_chats(vault) if vault.is_dir() else []


def run_verify(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """`tobs-tui verify`: what is wrong in the vault, said per file; exit 1 when something is. With --repair the
    chats concerned are exported again (the export's recovery restores what was lost), then checked again."""
    out = out or sys.stdout
    vault = Path(args.out or settings.export.output_dir).expanduser()
    if os.path.lexists(vault) and not vault.is_dir():
        print(f"{vault} is a file, not a vault's folder; pass --out with the folder you export to.", file=sys.stderr)
        return 2
    if not vault.is_dir():
        print(f"There is no vault at {vault}; pass --out with the folder you export to.", file=sys.stderr)
        return 2
    refused = cannot_check(vault)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    check = check_vault(vault)
    _print_check(check, vault, out, repairing=args.repair)
    # What an export refuses (a link, a non-file in its way) waits for a person; the chats it does not touch are
    # repaired now (VaultCheck.repairable_now).
    chats = check.repairable_now
    if check.ok or not args.repair or not chats:
        return 0 if check.ok else 1
    waiting = {p.chat_id for p in check.by_hand}
    try:
        mark_media_lost(vault, [p.path for p in check.problems if p.media and p.chat_id in chats])
    except _USER_ERRORS as e:
        print(str(e), file=sys.stderr)
        return 2
    export_args = argparse.Namespace(
        skip_gone=True,  # a chat that has left the chat list cannot be repaired; the others still are
        chat=[str(c) for c in chats],
        all=False,
        out=vault,
        since=None,
        backfill=False,
        no_media=False,
        takeout=False,
        json_progress=False,
        emulator=args.emulator,
        world=args.world,
    )
    later = f"; {len(waiting)} more after what they name is moved" if waiting else ""
    print(f"Repairing: exporting {len(export_args.chat)} chat(s) again{later}.", file=out)
    code = run_export(export_args, settings, out)
    if code != 0:
        return code
    again = check_vault(vault)
    _print_check(again, vault, out, repairing=False)
    return 0 if again.ok else 1


def _print_check(check: VaultCheck, vault: Path, out: TextIO, *, repairing: bool) -> None:
    for problem in check.problems:
        print(terminal_text(f"{problem.path}: {problem.problem}"), file=out)
    for note in check.notes:
        print(terminal_text(f"kept: {note}"), file=out)
    for copy in check.copies:  # not a problem (nothing is lost), but a person picks which to keep
        print(terminal_text(f"notice: {copy}"), file=out)
    if check.ok:
        copies = f"; {len(check.copies)} file(s) hold its messages twice (see above)" if check.copies else ""
        print(
            f"The vault at {vault} matches its export state: {check.chats} chats, {check.files} files and"
            f" {check.media} media files checked{copies}.",
            file=out,
        )
    elif check.by_hand:  # an export refuses a link or a non-file in its way: --repair cannot help until it is moved
        others = "; `tobs-tui verify --repair` fetches the rest" if not repairing and check.repairable_now else ""
        print(
            f"{len(check.problems)} problem(s) in the vault at {vault}; {len(check.by_hand)} of them an export"
            f" refuses to write through: move or replace what they name, then run `tobs-tui verify` again{others}.",
            file=out,
        )
    elif not repairing:
        print(
            f"{len(check.problems)} problem(s) in the vault at {vault}; run `tobs-tui verify --repair` to fetch"
            " what is missing from Telegram.",
            file=out,
        )


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
            TextColumn("{task.description}", markup=False),  # a chat's title is text, never markup
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
                task = self._tasks[c.chat_id] = self._progress.add_task(
                    terminal_text(c.title)[:40], total=None, rate=""
                )
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


def _summary(s: EngineSnapshot, elapsed: float, wall: float, args, out: TextIO, vault_notices: list[str]) -> None:
    """`elapsed` is the export's own time (its transfer rate's), `wall` the whole run's, start-up included;
    `vault_notices`: what the engine found changed in the vault and kept or repaired."""
    rate = s.messages_done / elapsed if elapsed > 0 else 0.0
    if args.json_progress:
        print(
            terminal_json(
                {
                    "summary": {
                        "state": s.state.value,
                        "messages": s.messages_done,
                        "elapsed_s": round(elapsed, 2),
                        "wall_s": round(wall, 2),
                        "msgs_per_s": round(rate, 1),
                        "flood_waits": s.flood_waits,
                        "errors": list(s.errors),
                        "vault": list(vault_notices),
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
                }
            ),
            file=out,
        )
        return
    done = sum(c.state is ChatState.DONE for c in s.chats)
    chats = f"{len(s.chats)} chat" + ("" if len(s.chats) == 1 else "s")
    if done < len(s.chats):
        chats = f"{done} of {chats} done ({len(s.chats) - done} not: see below)"
    print(
        f"Exported {s.messages_done} messages from {chats} in {wall:.1f} s "
        f"({rate:.0f} msg/s over the {elapsed:.1f} s of the export itself; the rest was start-up and connecting), "
        f"{s.flood_waits} FloodWaits.{_media_text(s.media)}",
        file=out,
    )
    for c in s.chats:
        line = f"  {c.state.value:<9} {c.messages_done:>8}  {terminal_text(c.title)}"
        if c.error:
            line += f" — {terminal_text(c.error)}"
        print(line, file=out)
    for err in s.errors:
        if not any(err == c.error for c in s.chats):
            print(f"  error: {terminal_text(err)}", file=out)
    for notice in vault_notices:
        print(f"  vault: {terminal_text(notice)}", file=out)
