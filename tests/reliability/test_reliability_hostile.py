"""Hostile names end to end: chats titled and topics named to escape, break front matter or fake structure, with
hostile file names on every message, are exported (media on) into folders and notes that stay inside the vault and
whose front matter still says exactly what it said."""

from __future__ import annotations

import json
import os
import unicodedata

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from tests.support.settings import WAIT
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.snapshot import RunState

BIDI_CONTROLS = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
BIDI_CHARS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NASTY_TITLES = [
    "../../../../etc/passwd",
    "/absolute/path",
    "..",
    "CON",
    "title\n---\nevil: true\n---\n# Heading",
    "[[Other Note]] #tag ^block %%comment%% $math$",
    "\u202egpj.exe",
    "zero\u200bwidth\u200d joiner \ufeff",
    "back\\slash:colon*star?\"quote\"<lt>|pipe",
    "\x00nul\x01\x7f",
    "x" * 400,
    "😀" * 100,
    " . ",
    "שלום عربي",
    "<script>alert(1)</script>",
    "del\x7f next\x85line\u2028para\u2029bom\ufeff c1\x9b",
]
# Senders whose names carry controls and a bidi override: they name every message of the chats below.
HOSTILE_USERS = [
    {"id": 5000, "first_name": "esc\x1b[31mred\x07bell", "last_name": "\u202egpj.exe"},
    {"id": 5001, "first_name": "one\x01two\x00three", "last_name": "del\x7f\x9b"},
]


def world_of(titles: list[str]) -> World:
    members = [u["id"] for u in HOSTILE_USERS]
    chats = [{"kind": "supergroup", "title": t, "messages": 20, "hostile": True, "members": members} for t in titles]
    chats.append({"kind": "forum", "title": titles[0], "messages": 60, "topics": titles[:4]})
    return World({"seed": 9, "max_file_size": 8192, "generated_users": 4, "users": HOSTILE_USERS, "chats": chats})


def export_world(make_runner, world: World, out):
    with Emulator(profile="lan", seed=1, world=world) as emu:
        runner = make_runner(emu=emu, out=out, media=True)
        assert runner.connect().result(WAIT)
        dialogs = runner.list_dialogs().result(WAIT)
        final = runner.start_export(ExportRequest(chats=tuple(ChatSelection(d.chat_id) for d in dialogs))).result(WAIT)
        runner.stop()
    return final


def front_matter(text: str) -> dict[str, str]:
    lines = text.split("\n")
    assert lines[0] == "---", text[:200]
    end = lines.index("---", 1)
    fields = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(": ")
        assert sep and key.isidentifier(), f"front matter line {line!r} is not one key"
        fields[key] = value
    matter = "\n".join(lines[1:end])
    yaml_12 = YAML(typ="safe", pure=True)
    yaml_12.version = (1, 2)
    # Obsidian and other tools read front matter with YAML 1.1 or 1.2 parsers: both must give the same values.
    for parsed in (yaml.safe_load(matter), yaml_12.load(matter)):
        assert set(parsed) == set(fields)
        for key, value in parsed.items():
            if fields[key].startswith('"'):
                assert value == json.loads(fields[key]), (key, matter)
    return fields


def assert_no_controls(text: str, where) -> None:
    bad = [c for c in text if (unicodedata.category(c) == "Cc" and c not in "\n\t") or c in BIDI_CHARS]
    assert not bad, (where, bad)


def check_vault(vault, titles_by_id: dict[int, str]) -> None:
    root = os.path.realpath(vault)
    for dirpath, dirnames, filenames in os.walk(vault):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            assert os.path.realpath(path).startswith(root + os.sep), path
            assert not os.path.islink(path), path
            assert name not in (".", "..") and "/" not in name and "\\" not in name
            # No control characters, and no bidi controls that would make "gpj.exe" read as "exe.jpg".
            assert not any(
                unicodedata.category(c) == "Cc" or unicodedata.bidirectional(c) in BIDI_CONTROLS for c in name
            ), repr(name)
            assert len(name.encode()) <= 255
            if "media" in os.path.relpath(dirpath, vault).split(os.sep):
                assert not name.lower().endswith((".md", ".markdown", ".canvas", ".base")), f"{path} is a note"
    for chat_dir in (p for p in vault.iterdir() if p.is_dir() and p.name != ".tobs"):
        index = chat_dir / f"{chat_dir.name}.md"
        fields = front_matter(index.read_text(encoding="utf-8"))
        chat_id = int(fields["id"])
        assert json.loads(fields["title"]) == titles_by_id[chat_id]  # the title round-trips, nothing added
        assert_no_controls(index.read_text(encoding="utf-8"), index)
        for note in chat_dir.rglob("*.md"):
            assert_no_controls(note.read_text(encoding="utf-8"), note)
            if note != index:
                month = front_matter(note.read_text(encoding="utf-8"))
                assert set(month) == {"chat_id", "chat", "month"}
                assert json.loads(month["chat"]) == titles_by_id[chat_id]


def test_nasty_titles_topics_and_file_names_stay_inside_the_vault(make_runner, tmp_path):
    world = world_of(NASTY_TITLES)
    final = export_world(make_runner, world, tmp_path / "vault")
    assert final.state is RunState.DONE, final.errors
    titles = {d.chat_id: d.title for d in final.chats}
    assert len({p.name for p in (tmp_path / "vault").iterdir()}) == len(world.chat_ids()) + 2  # + .tobs, result.json
    check_vault(tmp_path / "vault", titles)
    assert any((tmp_path / "vault").rglob("*/media/*/*/*")), "hostile file names were downloaded"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    titles=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80), min_size=4, max_size=6
    )
)
def test_any_titles_stay_inside_the_vault(make_runner, tmp_path_factory, titles):
    out = tmp_path_factory.mktemp("any-titles") / "vault"
    final = export_world(make_runner, world_of(titles), out)
    assert final.state is RunState.DONE, final.errors
    check_vault(out, {d.chat_id: d.title for d in final.chats})


# ---------------------------------------------------------------- titles on a terminal

TERMINAL_TITLES = [
    "closing [/] tag",
    "[bold red]x[/bold red]",
    "esc \x1b[31mred\x1b[0m nul \x00 one \x01 bell \x07 del \x7f c1 \x9b",
    "fake\n -1001100000099  supergroup         5         -  row",
    "rtl \u202egpj.exe and \u2066isolate\u2069",
    "line\u2028sep\x85next\rreturn\ttab",
]
ESCAPED = ["\\x1b[31mred", "\\x00", "\\x01", "\\x07", "\\x7f", "\\x9b", "fake\\n", "\\u202egpj.exe", "line\\u2028sep"]


def hostile_world_file(path, titles=TERMINAL_TITLES):
    chats = [{"kind": "supergroup", "title": t, "messages": 5} for t in titles]
    path.write_text(json.dumps({"seed": 3, "generated_users": 3, "chats": chats}), encoding="utf-8")
    return path


def assert_inert(text: str) -> None:
    """What reaches the terminal: no control character but line ends, no bidi control, no line separator."""
    for line in text.split("\n"):
        bad = [
            c
            for c in line
            if unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs")
            or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
        ]
        assert not bad, (bad, line)


def test_chats_prints_every_title_as_one_inert_row(capsys, tmp_path):
    from tobs_tui import cli

    world = hostile_world_file(tmp_path / "w.json")
    code = cli.main(["chats", "--emulator", "lan", "--world", str(world)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert_inert(out)
    lines = out.splitlines()
    assert len(lines) == len(TERMINAL_TITLES) + 2, out  # header, one row per chat, the count
    assert "closing [/] tag" in out and "[bold red]x[/bold red]" in out
    for escaped in ESCAPED:
        assert escaped in out, (escaped, out)

    code = cli.main(["chats", "--json", "--emulator", "lan", "--world", str(world)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert_inert(out)
    assert sorted(json.loads(line)["title"] for line in out.splitlines()) == sorted(TERMINAL_TITLES)


def test_export_summary_prints_titles_as_inert_text(capsys, tmp_path):
    from tobs_tui import cli

    world = hostile_world_file(tmp_path / "w.json")
    argv = ["export", "--emulator", "lan", "--world", str(world), "--all", "--no-media", "--out"]
    code = cli.main([*argv, str(tmp_path / "v")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert_inert(out + err)
    summary = out[out.index("Exported ") :].splitlines()
    assert len(summary) == 1 + len(TERMINAL_TITLES), out
    for escaped in ESCAPED:
        assert escaped in out, (escaped, out)

    code = cli.main([*argv, str(tmp_path / "v2"), "--json-progress"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert_inert(out)
    chats = json.loads(out.splitlines()[-1])["summary"]["chats"]
    assert sorted(c["title"] for c in chats) == sorted(TERMINAL_TITLES)


def test_export_on_a_terminal_shows_markup_and_escapes_as_text(tmp_path):
    """Rich draws the progress bars only on a terminal: run the real command on a pseudo-terminal 100 columns wide."""
    import pty
    import select
    import subprocess
    import time

    from tests.support.child import start_child

    world = hostile_world_file(tmp_path / "w.json")
    home = tmp_path / "home"
    primary, secondary = pty.openpty()
    os.set_blocking(primary, False)
    import fcntl
    import struct
    import termios

    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    child = start_child(
        ["export", "--emulator", "lan", "--world", str(world), "--all", "--no-media", "--out", str(tmp_path / "v")],
        home,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            output += chunk
        elif child.poll() is not None:
            break
    os.close(primary)
    assert child.wait(WAIT) == 0, output[-2000:]
    text = output.decode("utf-8", "replace")
    assert "Traceback" not in text and "MarkupError" not in text, text[-2000:]
    assert "\x1b[31mred" not in text  # the title's own escape sequence never reaches the terminal raw
    assert "\u202e" not in text and "\x07" not in text and "\x00" not in text
    assert "closing [/] tag" in text and "[bold red]x[/bold red]" in text  # markup shown as the text it is
    assert "\\x1b[31mred" in text
