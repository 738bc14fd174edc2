"""`tobs-tui export` and `tobs-tui chats` through the real CLI entry point, against the in-process emulator."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.vaults import chat_dir, notes_of
from tobs_tui.cli import main

WORLD = {
    "seed": 5,
    "chats": [
        {"kind": "channel", "title": "Small News", "messages": 120, "media": 0.2, "username": "small_news"},
        {"kind": "supergroup", "title": "Team Room", "messages": 300, "media": 0.0},
        {"kind": "supergroup", "title": "Twin", "messages": 10},
        {"kind": "group", "title": "Twin", "messages": 10},
    ],
}


@pytest.fixture
def world_file(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps(WORLD), encoding="utf-8")
    return path


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_export_by_username_and_title(tmp_path, world_file, capsys):
    out_dir = tmp_path / "vault"
    code, out, err = run(
        [
            "export",
            "--emulator",
            "--world",
            str(world_file),
            "--chat",
            "@small_news",
            "--chat",
            "team room",
            "--out",
            str(out_dir),
            "--no-media",
        ],
        capsys,
    )
    assert code == 0, err
    # The run's wall time (start-up and connecting included) and the export's own rate, both.
    summary = re.search(r"Exported 420 messages from 2 chats in ([\d.]+) s \((\d+) msg/s over the ([\d.]+) s", out)
    assert summary, out
    wall, rate, export_s = float(summary[1]), int(summary[2]), float(summary[3])
    assert wall >= export_s >= 0 and rate > 0  # printed to 0.1 s: a short export may round to the same
    folders = sorted(p.name for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(folders) == 2 and folders[0].startswith("Small News (")
    assert (out_dir / "result.json").is_file(), "the vault's account-level result.json"
    chat_id = int(folders[0].rsplit("(", 1)[1].rstrip(")"))
    assert sum(len(ids) for ids in notes_of(chat_dir(out_dir, chat_id)).values()) == 120


def test_json_progress_is_one_object_per_line_with_a_summary(tmp_path, world_file, capsys):
    code, out, err = run(
        ["export", "--emulator", "--world", str(world_file), "--all", "--json-progress", "--out", str(tmp_path / "v")],
        capsys,
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert all("state" in r for r in rows[:-1])
    summary = rows[-1]["summary"]
    assert summary["messages"] == 440 and summary["state"] == "done"
    assert summary["wall_s"] > summary["elapsed_s"] > 0
    assert summary["msgs_per_s"] == pytest.approx(440 / summary["elapsed_s"], rel=0.1)
    assert {c["state"] for c in summary["chats"]} == {"done"}


def test_an_unknown_or_ambiguous_chat_is_one_sentence_and_exit_2(tmp_path, world_file, capsys):
    code, _out, err = run(
        ["export", "--emulator", "--world", str(world_file), "--chat", "nope", "--out", str(tmp_path / "v")], capsys
    )
    assert code == 2 and "No chat matches 'nope'" in err and len(err.strip().splitlines()) == 1
    code, _out, err = run(
        ["export", "--emulator", "--world", str(world_file), "--chat", "Twin", "--out", str(tmp_path / "v")], capsys
    )
    assert code == 2 and "matches several chats" in err


def test_chats_lists_dialogs(world_file, capsys):
    code, out, err = run(["chats", "--emulator", "--world", str(world_file)], capsys)
    assert code == 0, err
    assert "Small News (@small_news)" in out and "4 dialogs" in out
    # A basic group's ids are the account's, not its own: its size is counted, not shown as unknown.
    group = next(line.split() for line in out.splitlines() if " group " in line and line.endswith("Twin"))
    assert group[1:3] == ["group", "10"], group
    code, out, err = run(["chats", "--json", "--emulator", "--world", str(world_file)], capsys)
    assert code == 0, err
    rows = {(r["kind"], r["title"]): r for r in map(json.loads, out.splitlines())}
    assert rows[("group", "Twin")]["message_count"] == 10


def test_without_a_session_the_user_is_told_to_log_in(capsys):
    code, _out, err = run(["export", "--all"], capsys)
    assert code == 2
    assert "run `tobs-tui` once to log in" in err and "Traceback" not in err


def test_json_progress_names_the_data_center_of_the_parts():
    from tobs_tui.engine import DcParts, MediaStats
    from tobs_tui.headless import _media_fields

    fields = _media_fields(MediaStats(workers=2, by_dc=(DcParts(2, 1, 10, 1_000), DcParts(4, 0, 7, 700))))
    assert fields["by_dc"] == [
        {"dc": 2, "in_flight": 1, "done": 10, "bytes": 1_000},
        {"dc": 4, "in_flight": 0, "done": 7, "bytes": 700},
    ]


def test_the_title_in_its_own_case_wins_over_the_same_title_in_another(tmp_path, capsys):
    world = tmp_path / "world.json"
    chats = [
        {"kind": "supergroup", "title": "Same", "messages": 5},
        {"kind": "supergroup", "title": "same", "messages": 7},
    ]
    world.write_text(json.dumps({"seed": 3, "chats": chats}), encoding="utf-8")
    argv = ["export", "--emulator", "--world", str(world), "--out", str(tmp_path / "v"), "--no-media"]
    code, out, err = run([*argv, "--chat", "same"], capsys)
    assert code == 0, err
    assert "Exported 7 messages from 1 chat " in out
    code, _out, err = run([*argv, "--chat", "SAME"], capsys)
    assert code == 2 and "matches several chats" in err


def test_a_chat_that_left_the_chat_list_is_said_to_have_left_and_a_repair_goes_on_with_the_others(tmp_path, capsys):
    """A chat the vault holds is no longer in the account's chat list (deleted, or left): asked for by id it is
    said to be gone (not a typo), and `verify --repair` repairs the other chats, says which could not be, exit 1."""
    both, one = tmp_path / "both.json", tmp_path / "one.json"
    both.write_text(json.dumps({"seed": 5, "chats": WORLD["chats"][:2]}), encoding="utf-8")
    one.write_text(json.dumps({"seed": 5, "chats": WORLD["chats"][:1]}), encoding="utf-8")
    vault = tmp_path / "vault"
    code, _out, err = run(
        ["export", "--emulator", "--world", str(both), "--all", "--out", str(vault), "--no-media"], capsys
    )
    assert code == 0, err
    folders = {p.name.rsplit(" (", 1)[0]: p for p in vault.iterdir() if p.is_dir() and not p.name.startswith(".")}
    gone_id = int(folders["Team Room"].name.rsplit("(", 1)[1].rstrip(")"))
    code, _out, err = run(
        ["export", "--emulator", "--world", str(one), "--chat", str(gone_id), "--out", str(vault)], capsys
    )
    said = f'"Team Room" ({gone_id}) is no longer in your chat list (it was deleted, or you left it)'
    assert code == 2 and err.startswith(said) and "No chat matches" not in err, err
    lost = {name: min(p for p in folder.rglob("*.md") if p.parent.name.isdigit()) for name, folder in folders.items()}
    kept = {name: note.read_bytes() for name, note in lost.items()}
    for note in lost.values():
        note.unlink()
    code, out, err = run(["verify", "--repair", "--out", str(vault), "--emulator", "--world", str(one)], capsys)
    assert code == 1, out + err
    assert said in err and "No chat matches" not in err
    assert lost["Small News"].read_bytes() == kept["Small News"], "the chat still listed is repaired"
    assert not lost["Team Room"].exists()


def test_verify_of_a_file_says_it_is_a_file(tmp_path, capsys):
    path = tmp_path / "afile"
    path.write_text("x")
    code, _out, err = run(["verify", "--out", str(path)], capsys)
    assert (
        code == 2
        and err.strip() == f"{path} is a file, not a vault's folder; pass --out with the folder you export to."
    )
