"""Raw Telethon `iter_messages` rate against the emulator's `lan` profile: the ceiling the export engine is held to.

The emulator runs in a separate process (start_subprocess), so it does not share this process's GIL.

    python benchmarks/raw_telethon.py [--messages 50000] [--repeat 3] [--profile lan]

Prints one JSON line; messages_per_s is the best of the repeats, the cpu fields are per repeat.

The export benchmarks measure their baseline with `raw_in_subprocess` against their own emulator: this file run
in a fresh interpreter that never imports the engine, so the baseline is Telethon as it ships (the engine
changes how this process decodes history replies, see engine/telegram/source.py and engine/telegram/tlreader.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
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
        json.dumps(
            {
                "seed": 7,
                "generated_users": 40,
                "chats": [{"kind": "supergroup", "title": "Large", "messages": messages, "media": 0.1}],
            }
        ),
        encoding="utf-8",
    )
    return path


async def iterate(session: str, repeat: int, chat_id: int | None = None) -> tuple[int, list[float], float]:
    """Every message of the chat (the first dialog by default), `repeat` times: (count, seconds each, CPU s)."""
    client = TelegramClient(StringSession(session), 1, "benchmark", receive_updates=False)
    await client.connect()
    try:
        dialogs = await client.get_dialogs()
        dialog = dialogs[0] if chat_id is None else next(d for d in dialogs if d.id == chat_id)
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


def raw_in_subprocess(session: str, chat_id: int | None = None, repeat: int = 1) -> tuple[int, float, float]:
    """iter_messages over a running emulator, in a fresh interpreter: (count, best seconds, CPU s per repeat).
    The session goes through stdin, not the command line, where other users of the machine could read it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--session-stdin", "--repeat", str(repeat)]
    if chat_id is not None:
        cmd += ["--chat-id", str(chat_id)]
    done = subprocess.run(cmd, input=session, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the raw iter_messages run failed: {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout)
    return result["messages"], min(result["seconds"]), result["client_cpu_s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="lan")
    parser.add_argument(
        "--session-stdin",
        action="store_true",
        help="read an emulator session from stdin and iterate over that emulator instead of starting one",
    )
    parser.add_argument("--chat-id", type=int, help="with --session-stdin: the chat to iterate (default: the first)")
    args = parser.parse_args(argv)
    if args.session_stdin:
        count, times, client_cpu = asyncio.run(iterate(sys.stdin.read().strip(), args.repeat, args.chat_id))
        print(
            json.dumps(
                {
                    "messages": count,
                    "seconds": [round(t, 4) for t in times],
                    "client_cpu_s": round(client_cpu / args.repeat, 4),
                }
            )
        )
        return 0
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
    print(
        json.dumps(
            {
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
            }
        )
    )
    return 0 if count == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
