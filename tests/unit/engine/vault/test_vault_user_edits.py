"""The vault is the user's, on real files: notes deleted, cut short, typed into or made private or read-only while
an export runs or between runs. The engine never leaves a hole, never drops their bytes or widens their
permissions, and never takes their words for its own front matter."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tests.unit.engine.vault.test_vault import (
    MONTH_HEADER,
    NOTE,
    _backfill_vault,
    _block,
    _correct,
    _fixed,
    _spliced,
    block,
    write_batches,
    write_blocks,
)
from tobs_tui.engine.render.notes import month_header
from tobs_tui.engine.vault.blocks import separator
from tobs_tui.engine.vault.check import check_vault
from tobs_tui.engine.vault.jsonl import encode_line
from tobs_tui.engine.vault.vault import ReadOnlyFileError, Vault, VaultWriteError, jsonl_rel

JSONL = jsonl_rel(1)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- deleted or cut short while the export writes


def test_a_note_deleted_during_the_run_is_not_written_as_zero_bytes_and_the_next_run_repairs_it(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 6))
        (tmp_path / NOTE).unlink()  # deleted in Obsidian while the export runs
        with pytest.raises(VaultWriteError, match="was deleted while the export was writing to it; run the export"):
            write_blocks(v, range(6, 8))
        assert not (tmp_path / NOTE).exists(), "no file of zero bytes and the new blocks"
        assert v.store.chat_progress(1).last_id == 5, "the state stays at the last commit"
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.missing == (NOTE,) and v.store.repairs(1) == [NOTE]


def test_a_jsonl_cut_short_during_the_run_stops_the_commit_and_the_next_run_repairs_it(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 20)
        jsonl = tmp_path / JSONL
        whole = jsonl.read_bytes()
        jsonl.write_bytes(whole[: len(whole) // 2])
        with pytest.raises(VaultWriteError, match="was cut short while the export was writing to it"):
            write_batches(v, 21, 30)
        assert b"\0" not in jsonl.read_bytes()
        assert v.store.chat_progress(1).last_id == 20
    with Vault(tmp_path) as v:
        assert JSONL in v.recover().cut_short and JSONL in v.store.repairs(1)
        assert b"\0" not in jsonl.read_bytes()


# ---------------------------------------------------------------- whole-file rewrites keep permissions


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_a_rewrite_keeps_the_notes_permissions(tmp_path, mode):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 30)
        (tmp_path / NOTE).chmod(mode)
        assert v.chat_writer(1).rewrite(NOTE, _correct) is True
    assert _mode(tmp_path / NOTE) == mode


def test_a_rewrite_leaves_a_read_only_note_as_it_is(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 30)
        note = tmp_path / NOTE
        before = note.read_bytes()
        note.chmod(0o444)
        inode = note.stat().st_ino
        with pytest.raises(ReadOnlyFileError, match=r"is read-only, so .*; make it writable \(chmod u\+w\)"):
            v.chat_writer(1).rewrite(NOTE, _correct)
        assert (note.read_bytes(), _mode(note), note.stat().st_ino) == (before, 0o444, inode)
        assert v.store.pending_rewrites() == []
        note.chmod(0o644)
        assert v.chat_writer(1).rewrite(NOTE, _correct) is True
    assert note.read_bytes() == _fixed(before)


def test_new_messages_are_not_appended_to_a_read_only_note_whoever_runs_the_export(tmp_path):
    # Opening it for writing refuses every user but root; root is held to the person's wish too.
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 10)
        note = tmp_path / NOTE
        before = note.read_bytes()
        note.chmod(0o444)
        with pytest.raises(VaultWriteError) as refused:
            write_batches(v, 11, 12)
        assert (note.read_bytes(), _mode(note)) == (before, 0o444)
        assert v.store.chat_progress(1).last_id == 10, "nothing of the batch is committed"
        if os.geteuid() == 0:
            assert "is read-only, so the new messages of its month were not written" in str(refused.value)
        note.chmod(0o644)
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 11, 12)
    assert note.read_bytes().startswith(before) and b"^m12" in note.read_bytes()


def test_a_backfill_keeps_the_notes_permissions(tmp_path):
    _backfill_vault(tmp_path)
    (tmp_path / NOTE).chmod(0o600)
    with Vault(tmp_path) as v:
        v.recover()
        assert v.chat_writer(1).splice_staged() == 3
    assert (tmp_path / NOTE).read_bytes() == _spliced(tmp_path)[NOTE]
    assert _mode(tmp_path / NOTE) == 0o600


def test_a_backfill_into_a_read_only_note_keeps_its_messages_aside_until_it_is_writable(tmp_path):
    _backfill_vault(tmp_path)
    note = tmp_path / NOTE
    before = note.read_bytes()
    note.chmod(0o400)
    with Vault(tmp_path) as v:
        v.recover()
        with pytest.raises(ReadOnlyFileError, match="back-fill fetched for its month are kept aside"):
            v.chat_writer(1).splice_staged()
        assert v.store.backfill(1) == (50, 51), "the back-fill stays unfinished"
    assert (note.read_bytes(), _mode(note)) == (before, 0o400)
    note.chmod(0o600)
    with Vault(tmp_path) as v:
        v.recover()
        assert v.chat_writer(1).splice_staged() == 1, "the others were spliced the first time"
    assert note.read_bytes() == _spliced(tmp_path)[NOTE] and _mode(note) == 0o600


# ---------------------------------------------------------------- text typed during the run stays


TYPED = b"\nMy note, typed while the export ran.\n"


def test_a_rewrite_keeps_what_a_person_typed_after_the_committed_bytes(tmp_path):
    note = tmp_path / NOTE
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 30)
        before = note.read_bytes()
        with open(note, "ab") as f:
            f.write(TYPED)  # Obsidian open on the vault: typed after the chat's last commit
        w = v.chat_writer(1)
        assert w.rewrite(NOTE, _correct) is True
        assert note.read_bytes() == _fixed(before) + TYPED
        w.append(NOTE, block(31), header=MONTH_HEADER)
        w.commit(last_id=31, messages=[])
    assert note.read_bytes() == _fixed(before) + TYPED + separator(TYPED) + block(31).encode()
    with Vault(tmp_path) as v:
        assert v.recover().clean


def test_a_rewrite_cut_short_after_its_rename_keeps_the_typed_text_and_settles(tmp_path, monkeypatch):
    from tobs_tui.engine.vault import vault as vault_module

    note = tmp_path / NOTE
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 30)
    before = note.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the rename, before the commit

    monkeypatch.setattr(vault_module.StateStore, "end_rewrite", crash)
    with Vault(tmp_path) as v:
        v.recover()
        with open(note, "ab") as f:
            f.write(TYPED)
        with pytest.raises(KeyboardInterrupt):
            v.chat_writer(1).rewrite(NOTE, _correct)
    monkeypatch.undo()
    with Vault(tmp_path) as v:
        report = v.recover()
        assert v.store.pending_rewrites() == []
        assert report.modified == (NOTE,) and report.truncated == (), "the typed text is theirs, kept"
        write_blocks(v, range(31, 32))
    assert note.read_bytes() == _fixed(before) + TYPED + separator(TYPED) + _block(31)


def test_a_backfill_keeps_what_a_person_typed_after_the_committed_bytes(tmp_path):
    _backfill_vault(tmp_path)
    note = tmp_path / NOTE
    with Vault(tmp_path) as v:
        v.recover()
        with open(note, "ab") as f:
            f.write(TYPED)
        w = v.chat_writer(1)
        assert w.splice_staged() == 3
        assert note.read_bytes() == _spliced(tmp_path)[NOTE] + TYPED
        w.append(NOTE, "message 61\n", header=MONTH_HEADER)
        w.commit(last_id=61, messages=[])
    assert note.read_bytes() == _spliced(tmp_path)[NOTE] + TYPED + separator(TYPED) + b"message 61\n"
    with Vault(tmp_path) as v:
        assert v.recover().clean


# ---------------------------------------------------------------- a note emptied of its messages


TITLE = 'Chat "quoted" \\ back\u2028slash ✓'


def _emptied(root: Path, leave: bytes) -> Vault:
    """A note of messages 1-5 whose header the engine wrote for the chat (TITLE), then emptied by hand to `leave`."""
    header = month_header(1, TITLE, "Chat (1)", "2024-01").encode()
    with Vault(root) as v:
        v.recover()
        v.store.upsert_chat(1, title=TITLE, kind="channel", username=None, dir_name="Chat (1)")
        w = v.chat_writer(1)
        for i in range(1, 6):
            w.append(NOTE, block(i), header=header.decode())
        w.commit(last_id=5, messages=[(i, NOTE.removesuffix(".md"), "Bob", "") for i in range(1, 6)])
    assert (root / NOTE).read_bytes().startswith(header)
    (root / NOTE).write_bytes(leave)
    return Vault(root)


def test_a_note_left_with_only_the_engines_header_is_written_afresh(tmp_path):
    header = month_header(1, TITLE, "Chat (1)", "2024-01").encode()
    v = _emptied(tmp_path, header + b"\n")
    with v:
        report = v.recover()
        assert report.cut_short == (NOTE,) and v.store.repairs(1) == [NOTE]
        assert not (tmp_path / NOTE).exists(), "nothing of a person's was in it"


@pytest.mark.parametrize(
    "edit",
    [
        lambda h: h.replace(b'month: "2024-01"\n', b'month: "2024-01"\ntags: [keep-me]\naliases: [My archive]\n'),
        lambda h: h.replace(b" \xc2\xb7 2024-01\n", b" \xc2\xb7 2024-01, nothing worth keeping, see [[My summary]]\n"),
        lambda h: h[: h.index(b"---\n\n") + 4],  # front matter only, without the link line
        lambda h: h.replace(b"\\u2028", b" "),  # the title changed by hand
    ],
    ids=["a property added", "words on the link line", "no link line", "the title edited"],
)
def test_a_note_emptied_of_its_messages_keeps_what_a_person_wrote_in_its_header(tmp_path, edit):
    header = month_header(1, TITLE, "Chat (1)", "2024-01").encode()
    theirs = edit(header)
    assert theirs != header
    v = _emptied(tmp_path, theirs)
    with v:
        report = v.recover()
        assert report.cut_short == (NOTE,) and report.missing == ()
        assert (tmp_path / NOTE).read_bytes() == theirs
        w = v.chat_writer(1)
        w.append(NOTE, "".join(block(i) for i in range(1, 6)), header=header.decode())  # ChatExport.repair
        w.commit(last_id=0, messages=[])
    restored = (tmp_path / NOTE).read_bytes()
    assert restored.startswith(theirs) and restored.count(b"chat_id:") == 1
    assert restored.endswith("".join(block(i) for i in range(1, 6)).encode())


def test_the_header_check_knows_the_renderers_month_header():
    """The vault may not import the renderer: its copy of the header's shape must agree with month_header."""
    from tobs_tui.engine.vault.vault import _MONTH_HEADER

    for title in ("Chat", TITLE, "", "ä\x85\ufeff\U0001f600", 'a"b'):
        header = month_header(-100123, title, "A Chat (-100123)", "1999-12").encode()
        assert _MONTH_HEADER.fullmatch(header), title


def test_text_after_a_jsonl_line_is_never_copied_into_a_rewrite(tmp_path):
    """The JSONL's bytes after its committed ones are a failed commit's, never a person's: a rewrite drops them."""
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 10)
        with open(tmp_path / JSONL, "ab") as f:
            f.write(encode_line({"id": 11})[:7])
        fixed = (tmp_path / JSONL).read_bytes()

        def correct(src, length, out) -> bool:
            out.write(src.read(length).replace(b"message 5", b"message five"))
            return True

        assert v.chat_writer(1).rewrite(JSONL, correct) is True
    assert b"message five" in (tmp_path / JSONL).read_bytes()
    assert not (tmp_path / JSONL).read_bytes().endswith(fixed[-7:])
    with Vault(tmp_path) as v:
        assert v.recover().clean


def test_a_read_only_note_with_a_cut_short_commit_and_typed_text_is_refused_not_replaced(tmp_path, monkeypatch):
    from tests.unit.engine.vault.test_vault import _torn_commit

    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    _torn_commit(tmp_path, monkeypatch, range(11, 13), keep=len(_block(11)))
    with open(tmp_path / NOTE, "ab") as f:
        f.write(b"typed after a kill\n")
    found = (tmp_path / NOTE).read_bytes()
    os.chmod(tmp_path / NOTE, 0o444)
    with Vault(tmp_path) as v, pytest.raises(VaultWriteError, match="permission to write"):
        v.recover()
    assert (tmp_path / NOTE).read_bytes() == found and _mode(tmp_path / NOTE) == 0o444
    os.chmod(tmp_path / NOTE, 0o600)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.modified == (NOTE,)
    assert _mode(tmp_path / NOTE) == 0o600
    assert b"typed after a kill\n" in (tmp_path / NOTE).read_bytes()


# ---------------------------------------------------------------- an editor's trim of trailing whitespace


@pytest.mark.parametrize("trim", [b"\n", b"\n\n", b" \n\n"], ids=["one newline", "both newlines", "space too"])
def test_a_note_whose_blank_end_an_editor_trimmed_is_kept_and_nothing_is_fetched_again(tmp_path, trim):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 10)
    note = tmp_path / NOTE
    data = note.read_bytes()
    assert data.endswith(b"\n\n")
    trimmed = data[: len(data) - len(trim)] if data.endswith(trim) else data.rstrip(b"\n")
    note.write_bytes(trimmed)
    found = check_vault(tmp_path)
    assert found.ok, [p.problem for p in found.problems]
    with Vault(tmp_path) as v:
        report = v.recover()
        assert not report.cut_short and not report.modified, report
        write_batches(v, 11, 12)
    after = note.read_bytes()
    assert after.startswith(trimmed)
    ids = [int(i) for i in re.findall(rb" \^m(\d+)\n", after)]
    assert ids == list(range(1, 13)), "every message once, in order"
    assert b"\n\n**" in after[len(trimmed) - 5 :], "the next message is a paragraph of its own"


def test_a_note_cut_into_its_last_message_is_still_cut_short(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 10)
    note = tmp_path / NOTE
    note.write_bytes(note.read_bytes()[:-6])  # " ^m10\n\n" loses more than its blank end
    assert not check_vault(tmp_path).ok
