"""Raw Telethon `iter_messages` rate against the emulator's `lan` profile: the ceiling the export engine is held to.

The emulator runs in a separate process (start_subprocess), so it does not share this process's GIL.

    python benchmarks/raw_telethon.py [--messages 50000] [--repeat 3] [--profile lan]

Prints one JSON line; messages_per_s is the best of the repeats, the cpu fields are per repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import psutil
import telethon
from telethon import TelegramClient
from telethon.sessions import StringSession

from tobs_tui.emulator import start_subprocess


def world_file(directory: Path, messages: int) -> Path:
    path = directory / "world.json"
    path.write_text(
        json.dumps({"seed": 7, "generated_users": 40, "chats": [
            {"kind": "supergroup", "title": "Large", "messages": messages, "media": 0.1}]}),
        encoding="utf-8",
    )
    return path


async def iterate(session: str, repeat: int) -> tuple[int, list[float], float]:
    client = TelegramClient(StringSession(session), 1, "benchmark")
    await client.connect()
    try:
        dialog = (await client.get_dialogs())[0]
        times = []
        count = 0
        cpu = time.process_time()
        for _ in range(repeat):
            started = time.perf_counter()
            count = 0
            async for _message in client.iter_messages(dialog.entity, reverse=True, wait_time=0):
                count += 1
            times.append(time.perf_counter() - started)
        return count, times, time.process_time() - cpu
    finally:
        await client.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="lan")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tobs-bench-") as tmp:
        handle = start_subprocess(profile=args.profile, world_path=world_file(Path(tmp), args.messages))
        server = psutil.Process(handle.process.pid)
        try:
            server_cpu = sum(server.cpu_times()[:2])
            count, times, client_cpu = asyncio.run(iterate(handle.session_string, args.repeat))
            server_cpu = sum(server.cpu_times()[:2]) - server_cpu
        finally:
            handle.stop()
    best = min(times)
    print(json.dumps({
        "benchmark": "raw_telethon_iter_messages",
        "profile": args.profile,
        "messages": count,
        "seconds": [round(t, 3) for t in times],
        "messages_per_s": round(count / best),
        # CPU seconds per repeat: on a loaded machine these say more than wall time does.
        "client_cpu_s": round(client_cpu / args.repeat, 3),
        "server_cpu_s": round(server_cpu / args.repeat, 3),
        "python": platform.python_version(),
        "telethon": telethon.__version__,
    }))
    return 0 if count == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
