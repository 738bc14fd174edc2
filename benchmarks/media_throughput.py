"""Media download throughput against an emulator whose connections are bandwidth-capped: the downloader's rate as
a share of the profile's ceiling, and against one-part-at-a-time downloading in the same run (A/B alternating,
medians). Prints one JSON line.

    python -m benchmarks.media_throughput [--rounds 3] [--profile realistic] [--bandwidth-kib 512] [--export]

--export adds one whole export of a mixed chat through the EngineRunner (history, notes and media together).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from telethon import TelegramClient
from telethon.sessions import StringSession

from tobs_tui.config import Settings
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
from tobs_tui.emulator.profiles import get_profile
from tobs_tui.emulator.world import World
from tobs_tui.engine import (
    MAX_PARTS_IN_FLIGHT,
    AdaptiveLimit,
    ChatContext,
    ChatSelection,
    DualPool,
    EngineRunner,
    ExportOptions,
    ExportRequest,
    FloodWaitPolicy,
    MediaDownloader,
    RunState,
    TelegramSource,
    ThrottleDetector,
    Vault,
    chat_dir_name,
    media_item,
)

MiB = 1024 * 1024
GOAL = 0.85
# A channel of large files only: what the media stage spends its time on in a real export.
WORLD = {
    "seed": 11,
    "max_file_size": 8 * MiB,
    "chats": [
        {"kind": "channel", "title": "Files", "messages": 80, "media": 1.0},
        {"kind": "channel", "title": "Mixed", "messages": 300, "media": 0.3},
    ],
}
VARIANTS = {
    # The downloader as the export runs it: several files, several parts of each, the global parts cap.
    "parallel": {"workers": 6, "parts_per_file": 4, "max_parts_in_flight": MAX_PARTS_IN_FLIGHT},
    # One request at a time: what a plain sequential downloader (client.download_media in a loop) does.
    "one_part": {"workers": 1, "parts_per_file": 1, "max_parts_in_flight": 1},
}


# -- the emulator in its own process (it must not share our GIL), with the bandwidth override -------------


def serve(profile: str, overrides: str, world: str, session_out: str) -> None:
    emu = Emulator(profile=profile, world=World.load(world), overrides=json.loads(overrides)).start()
    Path(session_out).write_text(emu.session_string(), encoding="ascii")
    print(f"listening on {emu.host}:{emu.port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    emu.stop()


class EmulatorChild:
    def __init__(self, profile: str, overrides: dict, work: Path) -> None:
        world = work / "world.json"
        world.write_text(json.dumps(WORLD), encoding="utf-8")
        session = work / "session.txt"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.media_throughput",
                "--serve",
                profile,
                json.dumps(overrides),
                str(world),
                str(session),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        line = self.process.stdout.readline()
        if "listening" not in line:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line.strip() or 'no output'}")
        self.session = session.read_text(encoding="ascii").strip()
        self.world = World(WORLD)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- one timed download of the file set ----------------------------------------------------------------


async def download_round(session: str, work: Path, variant: dict, budget: int) -> dict:
    client = TelegramClient(StringSession(session), 1, "emulator", flood_sleep_threshold=0, receive_updates=False)
    await client.connect()  # a new connection: the server's per-connection streams start idle
    root = Path(tempfile.mkdtemp(prefix="vault-", dir=work))
    vault = Vault(root)
    vault.recover()
    pools = DualPool(3, 2, name="bench-media")
    try:
        source = TelegramSource(
            client,
            throttle=ThrottleDetector(),
            policy=FloodWaitPolicy(),
            limit=AdaptiveLimit(8),
            timeout_s=60,
            emit=lambda *a, **k: None,
        )
        dialog = next(d for d in await source.dialogs() if d.title == "Files")
        batch = await source.history_batch(dialog.chat_id, after=0)
        items, total = [], 0
        for m in batch.messages:
            item = media_item(m, datetime.UTC)
            if item is not None and item.kind in ("document", "video") and total + item.size <= budget:
                items.append(item)
                total += item.size
        downloader = MediaDownloader(
            source, vault, pools, ExportOptions(tz=datetime.UTC), emit=lambda *a, **k: None, **variant
        )
        chat = ChatContext(dialog.chat_id, dialog.title, chat_dir_name(dialog.title, dialog.chat_id), True)
        started = time.perf_counter()
        refs = await downloader.process(chat, items)
        seconds = time.perf_counter() - started
        if any(r.status != "ok" for r in refs.values()):
            raise RuntimeError(f"a download failed: {[r.reason for r in refs.values() if r.status != 'ok']}")
        digests = {i.media_id: vault.store.media_record(dialog.chat_id, i.msg_id).sha256 for i in items}
        return {
            "bytes": total,
            "files": len(items),
            "seconds": seconds,
            "digests": digests,
            "sizes": (min(i.size for i in items), max(i.size for i in items)),
        }
    finally:
        await client.disconnect()
        pools.shutdown()
        vault.close()
        shutil.rmtree(root, ignore_errors=True)


def export_once(session: str, work: Path) -> dict:
    """The "Mixed" chat through the real EngineRunner; media bytes over the export's wall time."""
    base = Settings()
    settings = dataclasses.replace(
        base,
        export=dataclasses.replace(base.export, output_dir=work / "export", download_media=True),
        workers=dataclasses.replace(base.workers, media_download_workers=VARIANTS["parallel"]["workers"]),
    )
    runner = EngineRunner(settings, session=session, api_id=DEMO_API_ID, api_hash=DEMO_API_HASH)
    try:
        runner.start()
        runner.connect().result(600)
        chat = next(d for d in runner.list_dialogs().result(600) if d.title == "Mixed")
        started = time.perf_counter()
        snap = runner.start_export(ExportRequest(chats=(ChatSelection(chat.chat_id),))).result(1800)
        seconds = time.perf_counter() - started
    finally:
        runner.stop()
        shutil.rmtree(work / "export", ignore_errors=True)
    if snap.state is not RunState.DONE or snap.media.files_failed:
        raise RuntimeError(f"the export ended {snap.state.value}: {'; '.join(snap.errors) or 'a file failed'}")
    return {
        "seconds": seconds,
        "bytes": snap.media.bytes_done,
        "files": snap.media.files_done,
        "messages": snap.messages_done,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.media_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds, order alternating (default 3)")
    parser.add_argument("--profile", default="realistic", help="emulator profile (default realistic)")
    parser.add_argument(
        "--bandwidth-kib", type=int, default=512, help="per-part bandwidth cap of the server in KiB/s (default 512)"
    )
    parser.add_argument("--budget-mib", type=int, default=16, help="MiB of files downloaded per round (default 16)")
    parser.add_argument("--export", action="store_true", help="also time one whole export through the engine")
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return 0
    overrides = {"media_bandwidth": args.bandwidth_kib * 1024}
    profile = get_profile(args.profile, overrides)
    ceiling = profile.media_bandwidth * profile.media_streams  # bytes/s on one connection
    with tempfile.TemporaryDirectory(prefix="tobs-bench-media-") as tmp:
        work = Path(tmp)
        emu = EmulatorChild(args.profile, overrides, work)
        try:
            rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
            files = total = 0
            sizes = (0, 0)
            names = list(VARIANTS)
            # Untimed: the first download of a fresh server process pays one-off costs neither variant should.
            asyncio.run(download_round(emu.session, work, VARIANTS["parallel"], 2 * MiB))
            for r in range(args.rounds):
                for name in names if r % 2 == 0 else names[::-1]:
                    print(f"round {r + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
                    result = asyncio.run(download_round(emu.session, work, VARIANTS[name], args.budget_mib * MiB))
                    wrong = [m for m, d in result["digests"].items() if d != emu.world.sha256_of_media(m)]
                    if wrong:
                        raise RuntimeError(f"downloads are not byte-exact: media {wrong}")
                    rates[name].append(result["bytes"] / result["seconds"])
                    files, total, sizes = result["files"], result["bytes"], result["sizes"]
            if args.export:
                print("export of the mixed chat", file=sys.stderr, flush=True)
                exported = export_once(emu.session, work)
        finally:
            emu.stop()
    speedups = [p / s for p, s in zip(rates["parallel"], rates["one_part"], strict=True)]
    ratio = statistics.median(rates["parallel"]) / ceiling
    print(
        json.dumps(
            {
                "benchmark": "media_throughput",
                "profile": args.profile,
                "media_bandwidth_kib_s": args.bandwidth_kib,
                "media_streams": profile.media_streams,
                "latency_ms": profile.latency_ms,
                "ceiling_mib_s": round(ceiling / MiB, 3),
                "files": files,
                "mib_per_round": round(total / MiB, 2),
                "file_sizes_kib": [round(sizes[0] / 1024), round(sizes[1] / 1024)],
                "rounds": args.rounds,
                "parallel_mib_s": round(statistics.median(rates["parallel"]) / MiB, 3),
                "one_part_mib_s": round(statistics.median(rates["one_part"]) / MiB, 3),
                "ratio_to_ceiling": round(ratio, 3),
                "goal": GOAL,
                "met": ratio >= GOAL,
                "speedup_vs_one_part": round(statistics.median(speedups), 2),
                "per_round_mib_s": {k: [round(v / MiB, 3) for v in vs] for k, vs in rates.items()},
                **(
                    {
                        "export": {
                            "messages": exported["messages"],
                            "files": exported["files"],
                            "mib": round(exported["bytes"] / MiB, 2),
                            "seconds": round(exported["seconds"], 2),
                            "media_mib_s": round(exported["bytes"] / exported["seconds"] / MiB, 3),
                            "ratio_to_ceiling": round(exported["bytes"] / exported["seconds"] / ceiling, 3),
                        }
                    }
                    if args.export
                    else {}
                ),
                "cpus": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
