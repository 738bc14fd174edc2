"""Hostile names end to end: chats titled and topics named to escape, break front matter or fake structure, with
hostile file names on every message, are exported (media on) into folders and notes that stay inside the vault and
whose front matter still says exactly what it said."""

from __future__ import annotations

import json
import os
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.settings import WAIT
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.world import World
from tobs_tui.engine import ChatSelection, ExportRequest
from tobs_tui.engine.snapshot import RunState

BIDI_CONTROLS = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
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
]


def world_of(titles: list[str]) -> World:
    chats = [{"kind": "supergroup", "title": t, "messages": 20, "hostile": True} for t in titles]
    chats.append({"kind": "forum", "title": titles[0], "messages": 60, "topics": titles[:4]})
    return World({"seed": 9, "max_file_size": 8192, "generated_users": 4, "chats": chats})


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
    return fields


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
    for chat_dir in (p for p in vault.iterdir() if p.is_dir() and p.name != ".tobs"):
        index = chat_dir / f"{chat_dir.name}.md"
        fields = front_matter(index.read_text(encoding="utf-8"))
        chat_id = int(fields["id"])
        assert json.loads(fields["title"]) == titles_by_id[chat_id]  # the title round-trips, nothing added
        for note in chat_dir.rglob("*.md"):
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
