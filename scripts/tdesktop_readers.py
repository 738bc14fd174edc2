"""Public readers of Telegram Desktop's JSON export, run on a vault's result.json files.

Each reader is installed from the package index into a virtual environment of its own (never one of tobs-tui's
dependencies) and asked what it reads: messages per chat, and for a forum the topics it splits it into. The
script compares that with the vault (per-chat files in each chat folder, the account-level file at the root)
and exits 1 on a difference. docs/FORMAT.md records what each reader reported.

    python scripts/tdesktop_readers.py VAULT [--readers chatpack,tg-parser,...] [--venvs DIR]

Without --venvs the environments live in a temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

# Each reader's probe runs in its own environment with the vault as argv[1] and prints one JSON object:
# {chat folder or chat name: {"count": n, "topics": [ids]}} or {"error": "..."}.
_PER_CHAT = """
import json, sys
from pathlib import Path
vault, out = Path(sys.argv[1]), {}
for folder in sorted(p for p in vault.iterdir() if (p / "result.json").is_file()):
    try:
        out[folder.name] = read(folder / "result.json")
    except Exception as exc:
        out[folder.name] = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Reader:
    requirement: str
    what: str  # what it reads and counts, in words
    probe: str


READERS = {
    "chatpack": Reader(
        "chatpack==0.1.0",
        "per-chat files; counts the messages that have text",
        "import chatpack\n"
        "def read(path):\n"
        "    return {'count': len(chatpack.TelegramParser().parse(str(path)))}\n" + _PER_CHAT,
    ),
    "tg-parser": Reader(
        "tg-parser==1.2.0",
        "per-chat files; counts every message and splits a forum into topics",
        "from tg_parser.infrastructure.readers.telegram_json import TelegramJSONReader\n"
        "def read(path):\n"
        "    chat = TelegramJSONReader().read(path)\n"
        "    topics = sorted({m.topic_id for m in chat.messages if m.topic_id is not None})\n"
        "    return {'count': len(chat.messages), 'topics': topics, 'names': sorted(t.title for t in chat.topics.values())}\n"
        + _PER_CHAT,
    ),
    "telegramstats": Reader(
        "telegramstats==1.0.0",
        "the account-level file; counts messages per sender in each chat of its chats list",
        # Its own command, as a user runs it: `python -m telegramstats count -d VAULT`.
        "import json, re, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'telegramstats', 'count', '-d', sys.argv[1]],"
        " capture_output=True, text=True)\n"
        "if done.returncode:\n"
        "    print(json.dumps({'error': done.stderr.strip().splitlines()[-1:]})); sys.exit()\n"
        # Each chat of the list in its order: its name (an empty line for a chat named null), its senders' counts,
        # then a blank line.
        "out, heading = [], True\n"
        "for line in done.stdout.splitlines():\n"
        "    m = re.match(r'^(.*): (\\d+) messages?$', line)\n"
        "    if heading:\n"
        "        out.append({'name': line, 'count': 0}); heading = False\n"
        "    elif m:\n"
        "        out[-1]['count'] += int(m.group(2))\n"
        "    elif not line.strip():\n"
        "        heading = True\n"
        "print(json.dumps({'chats': out}))\n",
    ),
    "telegram-export-md": Reader(
        "telegram-export-md==0.4.1",
        "per-chat and account-level files, converted to Markdown by its command",
        "import json, subprocess, sys, tempfile\n"
        "from pathlib import Path\n"
        "vault, out = Path(sys.argv[1]), {}\n"
        "files = [vault / 'result.json'] + sorted(vault.glob('*/result.json'))\n"
        "for path in files:\n"
        "    with tempfile.TemporaryDirectory() as md:\n"
        "        done = subprocess.run([str(Path(sys.executable).with_name('tg-export-md')), str(path), '-o', md],"
        " capture_output=True, text=True)\n"
        "        name = path.parent.name if path.parent != vault else '(account-level)'\n"
        "        said = (done.stderr.strip().splitlines() or [''])[-1]\n"
        "        out[name] = {'error': said} if done.returncode else {'count': len(list(Path(md).glob('*.md')))}\n"
        "print(json.dumps(out))\n",
    ),
}


def environment(root: Path, name: str, requirement: str) -> Path:
    """The reader's own virtual environment, made and filled once."""
    home = root / name
    python = home / "bin" / "python"
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(home)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise SystemExit(f"Installing {requirement} from the package index failed: {done.stderr.strip()[-300:]}")
    return python


def what_the_vault_holds(vault: Path) -> dict:
    """Per chat folder: every message, the ones with text, its topics (from the notes' topic folders)."""
    chats = {}
    for folder in sorted(p for p in vault.iterdir() if (p / "result.json").is_file()):
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        messages = result["messages"]
        with_text = [m for m in messages if m["type"] == "message" and _plain(m["text"]).strip()]
        topics = sorted(int(t.name.rsplit("(", 1)[1].rstrip(")")) for t in (folder / "topics").glob("*(*)"))
        chats[folder.name] = {"id": result["id"], "count": len(messages), "text": len(with_text), "topics": topics}
    return chats


def _plain(text: str | list) -> str:
    return text if isinstance(text, str) else "".join(p if isinstance(p, str) else p["text"] for p in text)


def compare(name: str, said: dict, vault: Path, chats: dict) -> list[str]:
    """One line per chat: what the reader said, what the vault holds; a leading '!' marks a difference."""
    if "error" in said and name != "telegram-export-md":
        return [f"! {name}: {said['error']}"]
    lines = []
    if name == "telegramstats":
        # It names chats only by "name" (null for a deleted account, as Telegram Desktop writes it; two chats may
        # share one), so its chats are matched to the vault's by their place in the account-level list.
        account = json.loads((vault / "result.json").read_text(encoding="utf-8"))["chats"]["list"]
        counted = said["chats"]
        if len(counted) != len(account):
            return [f"! {name}: {len(counted)} chats read, the account-level file lists {len(account)}"]
        by_id = {ours["id"]: (folder, ours) for folder, ours in chats.items()}
        for listed, got in zip(account, counted, strict=True):
            folder, ours = by_id.get(listed["id"], (f"chat {listed['id']}", {"count": None}))
            ok = got["count"] == len(listed["messages"]) == ours["count"]
            lines.append(f"{'' if ok else '! '}{name}: {folder}: {got['count']} messages (vault: {ours['count']})")
        return lines
    for folder, result in said.items():
        ours = chats.get(folder)
        if name == "telegram-export-md":
            lines.append(f"{name}: {folder}: {result.get('error') or str(result.get('count')) + ' Markdown files'}")
            continue
        if ours is None or "error" in result:
            lines.append(f"! {name}: {folder}: {result}")
            continue
        expected = ours["text"] if name == "chatpack" else ours["count"]
        ok = result["count"] == expected
        line = f"{name}: {folder}: {result['count']} messages (vault: {expected})"
        if "topics" in result and ours["topics"]:
            ok = ok and result["topics"] == ours["topics"]
            line += f", topics {result['topics']} (notes: {ours['topics']}) {result['names']}"
        lines.append(("" if ok else "! ") + line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vault", type=Path)
    parser.add_argument("--readers", default=",".join(READERS), help="comma-separated, of: " + ", ".join(READERS))
    parser.add_argument("--venvs", type=Path, help="keep the readers' environments here (reused next time)")
    args = parser.parse_args(argv)
    names = [n for n in args.readers.split(",") if n]
    unknown = [n for n in names if n not in READERS]
    if unknown:
        parser.error(f"unknown reader {unknown[0]!r}; choose from {', '.join(READERS)}")
    if not (args.vault / "result.json").is_file():
        parser.error(f"{args.vault} has no result.json at its root; export to it with the json format first")
    chats = what_the_vault_holds(args.vault)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.venvs or Path(scratch)
        lines = []
        for name in names:
            reader = READERS[name]
            python = environment(root, re.sub(r"\W", "_", name), reader.requirement)
            done = subprocess.run(
                [str(python), "-c", reader.probe, str(args.vault)], capture_output=True, text=True, check=False
            )
            said = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-400:]}
            lines.append(f"# {reader.requirement}: {reader.what}")
            lines += compare(name, said, args.vault, chats)
    print("\n".join(lines))
    return 1 if any(line.startswith("!") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
