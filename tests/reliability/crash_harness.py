"""Crash consistency end to end: `tobs-tui export` against the emulator is killed at seeded random instants,
resumed each time, and must end byte-identical to an uninterrupted export.

Full run: `python -m tests.reliability.crash_harness --kills 40 --seed 1` (from the repo root); `--hand-edits`
types a line into a month note after each interruption, as a person editing the vault between runs would.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.child import REPO, child_env
from tobs_tui.cli import INTERRUPTED

# Small enough for seconds per export, varied enough to cross every path: a split-free supergroup, sparse ids
# (private chat, basic group), a forum with topics, a channel, hostile names, media in every chat.
WORLD_TOML = """\
seed = 7
max_file_size = 65536
generated_users = 12

[[chats]]
kind = "supergroup"
title = "Crash Supergroup"
messages = 3000
media = 0.2

[[chats]]
kind = "private"
messages = 200
media = 0.3

[[chats]]
kind = "forum"
title = "Crash Forum"
messages = 300
media = 0.2

[[chats]]
kind = "group"
title = "Crash Group"
messages = 250
media = 0.2

[[chats]]
kind = "channel"
title = "Crash Channel"
messages = 200
media = 0.3

[[chats]]
kind = "supergroup"
title = "../evil/../ CON"
messages = 40
hostile = true
"""

# The CI form's world: the same chats, the supergroup a third as long, so a whole export (and so each round of
# the harness) takes about a third of the time.
SHORT_WORLD_TOML = WORLD_TOML.replace(
    'title = "Crash Supergroup"\nmessages = 3000', 'title = "Crash Supergroup"\nmessages = 1000'
)
assert SHORT_WORLD_TOML != WORLD_TOML

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}
RUN_TIMEOUT_S = 300
STOP_TIMEOUT_S = 30  # a signalled export that has not exited by then is hung
HUNG = -999


@dataclasses.dataclass(frozen=True)
class Interruption:
    round: int
    signal: str
    after_s: float
    exit_code: int
    committed: int  # messages committed in the state DB right after the process died


@dataclasses.dataclass(frozen=True)
class RoundResult:
    round: int
    interruptions: int
    problems: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class CrashReport:
    seed: int
    reference_s: float
    reference_messages: int
    reference_files: int
    reference_media_files: int
    interruptions: tuple[Interruption, ...]
    rounds: tuple[RoundResult, ...]
    elapsed_s: float
    hand_edits: int = 0  # lines typed into month notes between runs

    @property
    def ok(self) -> bool:
        return all(not r.problems for r in self.rounds) and bool(self.rounds)

    def problems(self) -> list[str]:
        return [f"round {r.round}: {p}" for r in self.rounds for p in r.problems]

    def text(self) -> str:
        kinds = {name: sum(i.signal == name for i in self.interruptions) for name in SIGNALS}
        lines = [
            f"crash harness: seed {self.seed}, {len(self.interruptions)} interruptions "
            f"({', '.join(f'{n} {k}' for k, n in kinds.items() if n)}) over {len(self.rounds)} rounds "
            f"in {self.elapsed_s:.0f} s" + (f", {self.hand_edits} hand edits" if self.hand_edits else ""),
            f"reference: {self.reference_messages} messages, {self.reference_files} vault files "
            f"({self.reference_media_files} media) in {self.reference_s:.1f} s, uninterrupted",
        ]
        for i in self.interruptions:
            lines.append(
                f"  round {i.round}: SIG{i.signal:<4} after {i.after_s:5.2f} s -> exit {i.exit_code:>4}, "
                f"{i.committed:>5} messages committed"
            )
        for r in self.rounds:
            verdict = "identical to the reference" if not r.problems else "; ".join(r.problems[:5])
            lines.append(f"round {r.round}: {r.interruptions} interruptions, resumed to the end: {verdict}")
        lines.append("RESULT: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)


def export_command(world: Path, vault: Path, *, profile: str = "lan", extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tobs_tui",
        *extra,
        "export",
        "--emulator",
        profile,
        "--world",
        str(world),
        "--all",
        "--out",
        str(vault),
    ]


# ---------------------------------------------------------------- what a finished vault must look like


def vault_files(vault: Path) -> dict[str, bytes]:
    """Every file users keep, plus the committed JSONL; the index notes' export-time line is blanked."""
    out: dict[str, bytes] = {}
    for path in sorted(vault.rglob("*")):
        rel = path.relative_to(vault).as_posix()
        if path.is_dir() or (rel.startswith(".tobs/") and not rel.startswith(".tobs/json/")):
            continue
        data = path.read_bytes()
        if path.suffix == ".md":
            data = re.sub(rb"(?m)^last_export: .*$", b"last_export: -", data)
        out[rel] = data
    return out


def state_tables(vault: Path) -> dict[str, list[tuple]]:
    """The state DB's rows, minus commit timestamps (they differ between any two runs)."""
    db = sqlite3.connect(f"file:{vault / '.tobs' / 'state.sqlite'}?mode=ro", uri=True)
    try:
        return {
            "chats": db.execute(
                "SELECT chat_id, title, kind, username, dir_name, first_id, last_id, message_count"
                " FROM chats ORDER BY chat_id"
            ).fetchall(),
            "topics": db.execute("SELECT * FROM topics ORDER BY chat_id, topic_id").fetchall(),
            "files": db.execute("SELECT path, chat_id, length, tail FROM files ORDER BY path").fetchall(),
            "messages": db.execute("SELECT * FROM messages ORDER BY chat_id, msg_id").fetchall(),
            "media": db.execute("SELECT * FROM media ORDER BY chat_id, msg_id").fetchall(),
        }
    finally:
        db.close()


def committed_messages(vault: Path) -> int:
    db_path = vault / ".tobs" / "state.sqlite"
    if not db_path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return db.execute("SELECT coalesce(sum(message_count), 0) FROM chats").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # killed before the schema existed


def consistency_problems(vault: Path, *, finished: bool = True) -> list[str]:
    """What must hold in any vault on its own: DB intact, files at their committed lengths; once an export has
    finished, no leftovers either (a stopped one keeps its ".part" files to resume them)."""
    problems: list[str] = []
    db = sqlite3.connect(f"file:{vault / '.tobs' / 'state.sqlite'}?mode=ro", uri=True)
    try:
        check = db.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            problems.append(f"state DB integrity check: {check}")
        for path, length, tail in db.execute("SELECT path, length, tail FROM files"):
            file = vault / path
            if length == 0:
                problems.append(f"{path}: registered by a commit that never finished")
            elif not file.is_file():
                problems.append(f"{path}: committed but missing")
            elif file.stat().st_size != length:
                problems.append(f"{path}: {file.stat().st_size} bytes on disk, {length} committed")
            elif tail and file.read_bytes()[-len(tail) :] != tail:
                problems.append(f"{path}: committed tail does not match")
        for chat_id, last_id, count in db.execute("SELECT chat_id, last_id, message_count FROM chats"):
            indexed = db.execute("SELECT count(*), max(msg_id) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()
            if indexed[0] != count or (indexed[1] or 0) != last_id:
                problems.append(
                    f"chat {chat_id}: {count} messages up to {last_id} recorded, "
                    f"{indexed[0]} up to {indexed[1]} indexed"
                )
    finally:
        db.close()
    leftovers = [
        p.relative_to(vault).as_posix()
        for p in vault.rglob("*")
        if (finished and p.name.endswith(".part")) or p.suffix == ".tmp"
    ]
    leftovers += [f".tobs/tmp/{p.name}" for p in (vault / ".tobs" / "tmp").iterdir()]
    if leftovers:
        problems.append(f"left behind: {', '.join(sorted(set(leftovers))[:5])}")
    return problems


def typed_line(round_no: int, k: int) -> bytes:
    """What the hand-edit rounds type at the end of a month note between two runs: a paragraph of its own."""
    return f"Hand note {round_no}.{k}: typed into the note between two runs.\n".encode()


def append_hand_edit(vault: Path, rng: random.Random, text: bytes) -> str | None:
    """Append `text` to a month note drawn from the vault as it is now, as a person would in Obsidian."""
    notes = sorted(
        p
        for p in vault.glob("*/**/*.md")
        if not p.relative_to(vault).as_posix().startswith(".tobs") and p.parent.name.isdigit()
    )
    if not notes:
        return None
    note = rng.choice(notes)
    with open(note, "ab") as f:
        f.write(text)
    return note.relative_to(vault).as_posix()


def without_hand_edits(data: bytes, typed: list[bytes], rel: str) -> tuple[bytes, list[str]]:
    """The note with each typed paragraph (and the blank line the export puts after it) taken out, and what is
    wrong: a paragraph lost, or found more than once."""
    problems = []
    for text in typed:
        if data.count(text) != 1:
            problems.append(f"{rel}: the hand edit {text.decode().strip()!r} is there {data.count(text)} times")
        data = data.replace(text + b"\n", b"", 1) if text + b"\n" in data else data.replace(text, b"", 1)
    return data, problems


def compare(reference: Path, vault: Path, typed: dict[str, list[bytes]] | None = None) -> list[str]:
    """What differs from the reference vault; `typed`: the hand edits made to each note, which must all be
    there, once, and are taken out before the comparison (as are those notes' committed lengths and tails)."""
    typed = typed or {}
    problems = consistency_problems(vault)
    want, got = vault_files(reference), vault_files(vault)
    for rel, texts in typed.items():
        if rel in got:
            got[rel], lost = without_hand_edits(got[rel], texts, rel)
            problems += lost
    for rel in sorted(want.keys() - got.keys()):
        problems.append(f"{rel}: missing")
    for rel in sorted(got.keys() - want.keys()):
        problems.append(f"{rel}: not in the reference")
    for rel in sorted(want.keys() & got.keys()):
        if want[rel] != got[rel]:
            problems.append(f"{rel}: differs ({len(got[rel])} bytes, reference {len(want[rel])})")
    ref_tables, tables = state_tables(reference), state_tables(vault)
    for both in (ref_tables, tables):
        both["files"] = [row for row in both["files"] if row[0] not in typed]
    for name, rows in ref_tables.items():
        if tables[name] != rows:
            problems.append(f"state table {name} differs ({len(tables[name])} rows, reference {len(rows)})")
    return problems


def media_count(vault: Path) -> int:
    return sum(1 for p in vault.glob("*/media/**/*") if p.is_file())


# ---------------------------------------------------------------- the run


@dataclasses.dataclass(frozen=True)
class Run:
    exit_code: int
    output: str
    signalled: bool  # False: it ended on its own before the signal was due
    orphans: int  # its child processes still alive after it ended (they are killed)


# Python's signs of a shutdown that left work behind; a clean Ctrl-C prints none of them.
_UNCLEAN = ("Traceback (most recent call last)", "was never retrieved", "Task was destroyed", "Event loop is closed")


def _run(
    cmd: list[str],
    env: dict[str, str],
    log: Path,
    after_s: float | None = None,
    sig: int = signal.SIGKILL,
    armed: Callable[[], bool] | None = None,
) -> Run:
    """Run the export, sending `sig` after `after_s` (None: let it finish); its output is appended to `log`.

    With `armed`, the `after_s` count starts only once `armed()` is true (polled every 20 ms): a kill aimed at
    a phase of the run, however long the start-up before it took on a busy machine."""
    with tempfile.TemporaryFile() as capture:
        # Its own process group, so the render and media workers it starts can be found after it died.
        proc = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=capture, stderr=subprocess.STDOUT, start_new_session=True
        )
        signalled = False
        if armed is not None and after_s is not None:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while proc.poll() is None and not armed() and time.monotonic() < deadline:
                time.sleep(0.02)
        try:
            code = proc.wait(RUN_TIMEOUT_S if after_s is None else after_s)
        except subprocess.TimeoutExpired:
            signalled = after_s is not None
            if signalled and sig == signal.SIGINT:
                os.killpg(proc.pid, sig)  # a terminal's Ctrl-C reaches the whole group, worker processes too
            else:
                proc.send_signal(sig if signalled else signal.SIGABRT)
            try:
                code = proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                # PYTHONFAULTHANDLER makes SIGABRT dump every thread's stack into the output: where it hung.
                proc.send_signal(signal.SIGABRT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                code = HUNG
        left = _orphans(proc.pid)
        capture.seek(0)
        output = capture.read().decode("utf-8", "replace")
    what = "to the end" if after_s is None else f"signal {sig} after {after_s:.2f} s"
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n=== {' '.join(cmd[2:])}: {what} -> {code}\n{output}")
    return Run(code, output, signalled, left)


def _orphans(pgid: int, grace_s: float = 5.0) -> int:
    """Processes of the export's group still alive `grace_s` after it ended; they are then killed."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return 0
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    count = sum(1 for d in Path("/proc").iterdir() if d.name.isdigit() and _pgid_of(d) == pgid)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return count


def _pgid_of(proc_dir: Path) -> int | None:
    try:
        # /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
        return int(proc_dir.joinpath("stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def _stop_problems(name: str, after: float, run: Run) -> list[str]:
    """What a signalled export did wrong beyond the vault: hanging, orphans, and for Ctrl-C / SIGTERM an unclean
    exit."""
    where = f"SIG{name} after {after:.2f} s"
    if run.exit_code == HUNG:
        return [f"{where}: did not stop within {STOP_TIMEOUT_S} s"]
    problems = []
    if run.orphans:
        problems.append(f"{where}: {run.orphans} worker processes outlived it")
    if name == "KILL" or _in_startup_import(run):
        return problems
    # SIGTERM is handled as Ctrl-C once the export runs: 130 after a clean cancel. Landing before the export
    # started, Ctrl-C may end it with 1 or 2 (a half-made connection) and SIGTERM with its default (-15); never
    # with a traceback.
    allowed = (130, 1, 2, -signal.SIGTERM) if name == "TERM" else (130, 1, 2)
    if run.exit_code not in allowed and not _after_the_end(run) and not _ended_by_the_interrupt(name, run):
        problems.append(f"{where}: exit {run.exit_code}, expected 130")
    if any(sign in run.output for sign in _UNCLEAN):
        line = next(ln for ln in run.output.splitlines() if any(sign in ln for sign in _UNCLEAN))
        problems.append(f"{where}: the shutdown was not clean ({line.strip()[:120]})")
    return problems


def _after_the_end(run: Run) -> bool:
    """A signal that landed as a finished export was leaving `_follow`, once its Ctrl-C handling was undone: the
    export printed its summary and exits 0. Nothing was left to stop; the shutdown is checked and the vault
    compared as after any other signal."""
    return run.exit_code == 0 and _SUMMARY.search(run.output) is not None


_SUMMARY = re.compile(r"^Exported \d+ messages from ", re.MULTILINE)


def _ended_by_the_interrupt(name: str, run: Run) -> bool:
    """Ctrl-C that said its sentence and then ended the process by the signal itself (-SIGINT) rather than
    exit 130: a shell reports 130 either way. Seen a few times in a hundred when the signal lands as the render
    workers start (about 0.2-0.4 s in); a traceback would still count against the shutdown."""
    return name == "INT" and run.exit_code == -signal.SIGINT and INTERRUPTED in run.output


def _in_startup_import(run: Run) -> bool:
    """A signal before any tobs-tui code ran (nothing to clean up): the interpreter was still starting (it dies of
    the signal, silently), or still importing the CLI (Python's own KeyboardInterrupt traceback)."""
    if run.output.strip() == "" and run.exit_code < 0:
        return True
    return "from tobs_tui.cli import main" in run.output and run.output.rstrip().endswith("KeyboardInterrupt")


def crash_run(
    workdir: Path,
    *,
    kills: int = 20,
    seed: int = 1,
    signals: tuple[str, ...] = ("KILL",),
    profile: str = "lan",
    hand_edits: bool = False,
    progress=None,
    world_toml: str = WORLD_TOML,
    min_hand_edits: int = 0,
) -> CrashReport:
    """Uninterrupted reference export, then rounds of interrupted exports until `kills` interruptions are done
    and the last round finished; every finished round is compared with the reference. With `hand_edits`, a line
    is typed at the end of a month note after each interruption: it must survive, once, where it was typed. An
    interruption before the first note was written leaves nothing to type into: with `min_hand_edits`, more
    interruptions are drawn (up to twice `kills`) until that many lines were typed."""
    started = time.monotonic()
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    world = workdir / "world.toml"
    world.write_text(world_toml, encoding="utf-8")
    env = child_env(workdir / "home")
    log = workdir / "exports.log"
    say = progress or (lambda _msg: None)

    reference = workdir / "reference"
    began = time.monotonic()
    run = _run(export_command(world, reference, profile=profile), env, log)
    reference_s = time.monotonic() - began
    if run.exit_code != 0:
        raise RuntimeError(f"the uninterrupted reference export failed (exit {run.exit_code}); see {log}")
    say(f"reference export: {reference_s:.1f} s")
    # Durations of whole exports into an empty vault; instants are drawn over their median, which follows
    # the machine's load (other work on a shared machine can make one export several times slower).
    whole_runs = [reference_s]

    interruptions: list[Interruption] = []
    rounds: list[RoundResult] = []
    edits = 0
    round_no = 0

    def more() -> bool:
        return len(interruptions) < kills or (edits < min_hand_edits and len(interruptions) < 2 * kills)

    while more():
        round_no += 1
        vault = workdir / f"round-{round_no}"
        in_round = 0
        problems: list[str] = []
        typed: dict[str, list[bytes]] = {}
        while True:
            cmd = export_command(world, vault, profile=profile)
            if not more():
                run = _run(cmd, env, log)
                if run.exit_code != 0:
                    problems.append(f"the last, uninterrupted run failed (exit {run.exit_code})")
                break
            # Any instant from interpreter start-up to past a whole export's end: start-up, recovery, commits,
            # media downloads, summaries and the final close are all hit.
            after = rng.uniform(0.05, statistics.median(whole_runs) * 1.1)
            # In turn, not drawn: which attempts land inside an export depends on the machine's speed, and every
            # way of stopping must be among the interruptions whatever it is.
            name = signals[len(interruptions) % len(signals)]
            began = time.monotonic()
            run = _run(cmd, env, log, after, SIGNALS[name])
            if run.orphans and not run.signalled:
                problems.append(f"{run.orphans} worker processes outlived a finished export")
            if not run.signalled:
                if in_round == 0:
                    whole_runs.append(time.monotonic() - began)
                if run.exit_code != 0:
                    problems.append(f"a resumed run failed on its own (exit {run.exit_code})")
                break
            in_round += 1
            interruptions.append(Interruption(round_no, name, after, run.exit_code, committed_messages(vault)))
            say(
                f"round {round_no}: SIG{name} after {after:.2f} s, exit {run.exit_code}, "
                f"{interruptions[-1].committed} committed"
            )
            problems += _stop_problems(name, after, run)
            if hand_edits:
                text = typed_line(round_no, in_round)
                rel = append_hand_edit(vault, rng, text)
                if rel is not None:
                    typed.setdefault(rel, []).append(text)
                    edits += 1
        problems += compare(reference, vault, typed)
        rounds.append(RoundResult(round_no, in_round, tuple(problems)))
        if not problems:
            shutil.rmtree(vault)  # a round that held is not worth its disk space; failed ones stay to inspect
        say(f"round {round_no}: {'ok' if not problems else problems[:3]}")
    return CrashReport(
        seed=seed,
        reference_s=reference_s,
        reference_messages=committed_messages(reference),
        reference_files=len(vault_files(reference)),
        reference_media_files=media_count(reference),
        interruptions=tuple(interruptions),
        rounds=tuple(rounds),
        elapsed_s=time.monotonic() - started,
        hand_edits=edits,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=40, help="interruptions in total (default 40)")
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seeds the instants and the notes typed into (default 1); signals are taken in turn",
    )
    parser.add_argument("--signals", default="KILL", help="comma-separated: KILL, TERM, INT (default KILL)")
    parser.add_argument("--profile", default="lan", help="emulator profile (default lan)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the vaults here (default: a temp dir)")
    parser.add_argument(
        "--hand-edits", action="store_true", help="type a line at the end of a month note after each interruption"
    )
    args = parser.parse_args(argv)
    signals = tuple(s.strip().upper().removeprefix("SIG") for s in args.signals.split(","))
    if unknown := [s for s in signals if s not in SIGNALS]:
        parser.error(f"unknown signal {', '.join(unknown)}; use KILL, TERM or INT")

    def run(workdir: Path) -> int:
        report = crash_run(
            workdir,
            kills=args.kills,
            seed=args.seed,
            signals=signals,
            profile=args.profile,
            hand_edits=args.hand_edits,
            progress=lambda m: print(m, file=sys.stderr, flush=True),
        )
        print(report.text())
        for p in report.problems():
            print("  " + p)
        return 0 if report.ok else 1

    if args.workdir is not None:
        return run(args.workdir)
    with tempfile.TemporaryDirectory(prefix="tobs-crash-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
