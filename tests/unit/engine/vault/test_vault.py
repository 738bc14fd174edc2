"""The vault writer on real files: commits, recovery, the lock, disk faults and symlinks."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tobs_tui
from tobs_tui.engine.render.notes import month_header
from tobs_tui.engine.vault import vault as vault_module
from tobs_tui.engine.vault.blocks import separator
from tobs_tui.engine.vault.filenames import UnsafePathError
from tobs_tui.engine.vault.jsonl import encode_line
from tobs_tui.engine.vault.vault import Vault, VaultLockedError, VaultWriteError

NOTE = "Chat (1)/2024/2024-01.md"
# Child interpreters must import this checkout whatever the working directory and install mode.
CHILD_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(Path(tobs_tui.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]
    ),
}
HEADER = "---\nid: 1\n---\n"


def tree(root: Path) -> dict[str, bytes]:
    """Every user-visible file plus the JSONL, by relative path (the DB and lock differ by design)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".tobs/state.sqlite", ".tobs/lock", ".tobs/intents/")):
            out[rel] = path.read_bytes()
    return out


def block(i: int) -> str:
    """A message block as the renderer writes it (what recovery knows as the engine's own)."""
    return f"**Bob** · 2024-01-05 10:{i % 60:02d}\nmessage {i} ✓ ^m{i}\n\n"


def note_of(i: int) -> str:
    return NOTE if i <= 50 else "Chat (1)/2024/2024-02.md"


def write_batches(v: Vault, first: int, last: int, batch: int = 10, header: str = HEADER) -> None:
    w = v.chat_writer(1)
    for start in range(first, last + 1, batch):
        ids = range(start, min(start + batch, last + 1))
        for i in ids:
            w.append(note_of(i), block(i), header=header)
            w.append_json_line(encode_line({"id": i, "text": f"message {i} ✓"}))
        w.commit(last_id=ids[-1], messages=[(i, note_of(i).removesuffix(".md"), "Bob", f"message {i}") for i in ids])


@pytest.fixture
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    with Vault(root) as v:
        v.recover()
        write_batches(v, 1, 100)
    return tree(root)


def test_appends_commit_and_resume_without_repeating_headers(tmp_path, reference):
    with Vault(tmp_path) as v:
        assert v.recover().clean
        write_batches(v, 1, 40)
    with Vault(tmp_path) as v:
        assert v.recover().clean
        assert v.store.chat_progress(1).last_id == 40
        write_batches(v, 41, 100)
    assert tree(tmp_path) == reference
    assert reference[NOTE].startswith(HEADER.encode() + block(1).encode())
    assert reference[NOTE].count(b"---\nid: 1") == 1


class Died(BaseException):
    """The process ends here, as with a kill -9: nothing after it runs, no handler sees it."""


def die_in_commit(monkeypatch, torn: dict[str, int]) -> None:
    """The next commits write only the first `torn[file]` bytes of what they append to each file named (all of
    the others'), and the process dies before the state records them: what a kill inside a commit leaves."""

    def pwrite_all(fd: int, data: bytes, offset: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        keep = next((n for rel, n in torn.items() if name.endswith(rel)), len(data))
        os.pwrite(fd, data[:keep], offset)

    def commit_batch(*args, **kwargs):
        raise Died

    monkeypatch.setattr(vault_module, "pwrite_all", pwrite_all)
    monkeypatch.setattr(os, "ftruncate", lambda fd, length: None)  # the kill lands before the commit's truncate
    monkeypatch.setattr(vault_module.StateStore, "commit_batch", commit_batch)


def test_recover_rolls_back_everything_past_the_last_commit(tmp_path, reference, monkeypatch):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 45)
        w = v.chat_writer(1)
        json_rel = w.json_rel
    # What a kill inside a commit leaves: torn tails, a file the commit had just created, a temp file.
    with monkeypatch.context() as m, pytest.raises(Died), Vault(tmp_path) as v:
        v.recover()
        die_in_commit(m, {NOTE: 30, json_rel: 12, "2024-02.md": 20})
        (tmp_path / ".tobs/tmp/tmpabc.tmp").write_bytes(b"partial index")
        write_batches(v, 46, 55, batch=10)
    assert (tmp_path / "Chat (1)/2024/2024-02.md").stat().st_size == 20
    with Vault(tmp_path) as v:
        report = v.recover()
        assert [t[0] for t in report.truncated] == [".tobs/json/1.jsonl", NOTE]
        assert report.rolled_back_bytes == 30 + 12
        assert report.removed == ("Chat (1)/2024/2024-02.md",)
        assert report.temp_files_deleted == 1
        assert not (tmp_path / "Chat (1)/2024/2024-02.md").exists()
        assert v.recover().clean
        write_batches(v, 46, 100)
    assert tree(tmp_path) == reference


def test_a_users_edit_to_a_note_is_kept_and_a_deleted_note_starts_afresh(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 60)
    note2 = tmp_path / "Chat (1)/2024/2024-02.md"
    edited = (tmp_path / NOTE).read_bytes().replace(b"message 50", b"MESSAGE 50 (my comment)")
    assert edited != (tmp_path / NOTE).read_bytes()
    (tmp_path / NOTE).write_bytes(edited)
    note2.unlink()
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.modified == (NOTE,) and report.missing == ("Chat (1)/2024/2024-02.md",)
        assert report.truncated == ()
        w = v.chat_writer(1)
        w.append(NOTE, "appended\n", header=HEADER)
        w.append("Chat (1)/2024/2024-02.md", "message 61\n", header=HEADER)
        w.commit(last_id=61, messages=[])
    assert (tmp_path / NOTE).read_bytes() == edited + b"appended\n"
    assert note2.read_bytes() == HEADER.encode() + b"message 61\n"


def test_second_vault_on_the_same_root_is_locked_out(tmp_path):
    first = Vault(tmp_path)
    try:
        with pytest.raises(VaultLockedError) as info:
            Vault(tmp_path)
        assert str(info.value) == (
            f"Another export is writing to {tmp_path} (pid {os.getpid()}); wait for it to"
            " finish or choose another folder."
        )
        # another process is refused too
        code = (
            f"from tobs_tui.engine.vault.vault import Vault, VaultLockedError\n"
            f"try:\n    Vault({str(tmp_path)!r})\nexcept VaultLockedError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=CHILD_ENV, cwd=tmp_path
        )
        assert f"(pid {os.getpid()})" in out.stdout
    finally:
        first.close()
    Vault(tmp_path).close()  # released on close


def test_export_dir_that_is_a_file(tmp_path):
    target = tmp_path / "vault"
    target.write_text("not a folder")
    with pytest.raises(VaultWriteError, match="is a file; choose a folder"):
        Vault(target)
    with pytest.raises(VaultWriteError, match="A file is in the way"):
        Vault(target / "sub")
    assert target.read_text() == "not a folder"


def test_injected_enospc_stops_with_the_message_and_resumes_cleanly(tmp_path, monkeypatch, reference):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 30)
        real_pwrite = os.pwrite
        calls = {"n": 0}

        def full_disk(fd, data, offset):
            calls["n"] += 1
            if calls["n"] > 1:  # the first file gets its bytes, the second finds the disk full
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_pwrite(fd, data, offset)

        monkeypatch.setattr(vault_module.os, "pwrite", full_disk)
        with pytest.raises(VaultWriteError) as info:
            write_batches(v, 31, 40)
        assert str(info.value) == (
            f"The disk at {tmp_path} is full; free some space and run the export again"
            " — nothing exported so far is lost."
        )
        assert v.store.chat_progress(1).last_id == 30
        monkeypatch.setattr(vault_module.os, "pwrite", real_pwrite)
        # the same writer can retry its buffered batch once space is free
        v.chat_writer(1).commit(last_id=40, messages=[(i, "2024-01", "Bob", f"message {i}") for i in range(31, 41)])
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 41, 100)
    assert tree(tmp_path) == reference


def test_injected_enospc_in_the_database_keeps_the_last_commit(tmp_path, monkeypatch, reference):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 20)

        def db_full(*args, **kwargs):
            raise vault_module.sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(v.store, "commit_batch", db_full)
        with pytest.raises(VaultWriteError, match="is full; free some space"):
            write_batches(v, 21, 30)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.rolled_back_bytes > 0
        assert v.store.chat_progress(1).last_id == 20
        write_batches(v, 21, 100)
    assert tree(tmp_path) == reference


def _mount_tmpfs(where: Path, options: str) -> bool:
    if os.geteuid() != 0:
        return False
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return result.returncode == 0


def test_real_full_tmpfs_stops_and_resumes_after_space_is_freed(tmp_path, reference):
    mnt = tmp_path / "small"
    # Room for the state DB's write-ahead log to grow by the 80 commits after the filler goes (about 100 KB on
    # top of its 100 KB), plus the rest; the filler takes whatever is free either way.
    if not _mount_tmpfs(mnt, "size=512k"):
        pytest.skip("mounting a small tmpfs needs root; the injected ENOSPC tests cover the write layer")
    try:
        root = mnt / "vault"
        with Vault(root) as v:
            v.recover()
            write_batches(v, 1, 20)
            filler = mnt / "filler"
            with open(filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
            with pytest.raises(VaultWriteError, match="is full; free some space"):
                write_batches(v, 21, 100)
            stuck_at = v.store.chat_progress(1).last_id
            assert stuck_at < 100
        filler.unlink()
        with Vault(root) as v:
            v.recover()
            write_batches(v, stuck_at + 1, 100)
        assert tree(root) == reference
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_export_dir(tmp_path):
    target = tmp_path / "ro"
    if _mount_tmpfs(target, "size=64k,ro"):
        expected = "is on a read-only file system; choose a writable folder"
    elif os.geteuid() != 0:
        target.mkdir()
        target.chmod(0o555)
        expected = "You do not have permission to write to"
    else:
        pytest.skip("root ignores permissions and tmpfs cannot be mounted here")
    try:
        with pytest.raises(VaultWriteError, match=expected):
            Vault(target / "vault")
        with pytest.raises(VaultWriteError, match=expected):
            Vault(target)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(target)], check=False)
        else:
            target.chmod(0o755)


def test_planted_symlink_is_never_followed_for_writing(tmp_path):
    root = tmp_path / "vault"
    outside = tmp_path / "outside"
    outside.mkdir()
    with Vault(root) as v:
        v.recover()
        os.symlink(outside, root / "Chat (1)")
        w = v.chat_writer(1)
        w.append(NOTE, "secret\n", header=HEADER)
        with pytest.raises(UnsafePathError):
            w.commit(last_id=1, messages=[])
        with pytest.raises(UnsafePathError):
            v.write_file_atomic("Chat (1)/Chat.md", b"index")
        (root / "Other (2)").mkdir()
        os.symlink(outside / "victim.md", root / "Other (2)" / "Other.md")
        with pytest.raises(UnsafePathError):
            v.write_file_atomic("Other (2)/Other.md", b"overwrite")
    assert list(outside.iterdir()) == []


def test_a_whole_file_is_replaced_atomically_with_the_mode_asked_for(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        v.write_file_atomic("Chat (1)/Chat.md", b"first\n")
        assert (tmp_path / "Chat (1)/Chat.md").stat().st_mode & 0o777 == 0o644
        v.write_file_atomic("Chat (1)/Chat.md", "second ✓\n".encode(), mode=0o600)
        assert (tmp_path / "Chat (1)/Chat.md").read_text() == "second ✓\n"
        assert (tmp_path / "Chat (1)/Chat.md").stat().st_mode & 0o777 == 0o600
        assert list((tmp_path / ".tobs/tmp").iterdir()) == []


def test_result_json_holds_only_committed_messages(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        w = v.chat_writer(1)
        assert w.write_result_json("Chat (1)/result.json", {"name": "Chat", "type": "personal_chat", "id": 1}) == 0
        assert json.loads((tmp_path / "Chat (1)/result.json").read_text()) == {
            "name": "Chat",
            "type": "personal_chat",
            "id": 1,
            "messages": [],
        }
        write_batches(v, 1, 30)
        w.append_json_line(encode_line({"id": 31, "text": "not committed"}))
        count = w.write_result_json("Chat (1)/result.json", {"name": "Ч\"at", "type": "personal_chat", "id": 1})
        data = json.loads((tmp_path / "Chat (1)/result.json").read_text(encoding="utf-8"))
        assert count == 30 and data["name"] == "Ч\"at"
        assert [m["id"] for m in data["messages"]] == list(range(1, 31))
        assert data["messages"][0]["text"] == "message 1 ✓"


RESULT_JSON_CHILD = r"""
import json, resource, sys
from pathlib import Path
import psutil
from tobs_tui.engine.vault.vault import Vault

root = Path(sys.argv[1])
with Vault(root) as v:
    v.recover()
    w = v.chat_writer(1)
    before_rss = psutil.Process().memory_info().rss
    before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    count = w.write_result_json("Big (1)/result.json", {"name": "Big", "type": "public_supergroup", "id": 1})
    after_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"count": count, "growth": max(0, after_peak - max(before_peak, before_rss))}))
"""


def test_result_json_for_a_million_messages_keeps_memory_flat(tmp_path):
    n = 1_000_000
    with Vault(tmp_path) as v:
        v.recover()
        w = v.chat_writer(1)
        step = 100_000
        for start in range(1, n + 1, step):
            for i in range(start, start + step):
                w.append_json_line(
                    encode_line({"id": i, "type": "message", "date_unixtime": "1700000000", "text": "hello there"})
                )
            w.commit(last_id=start + step - 1, messages=[])
        jsonl_size = (tmp_path / w.json_rel).stat().st_size
    out = subprocess.run(
        [sys.executable, "-c", RESULT_JSON_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=CHILD_ENV,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["count"] == n
    # A reader that held the JSONL in memory would grow by its size (~70 MB); streaming grows by buffers only.
    assert jsonl_size > 50_000_000
    assert result["growth"] < 20_000_000, result
    print(
        f"result.json of {n} messages: peak RSS growth {result['growth'] / 1e6:.1f} MB, JSONL {jsonl_size / 1e6:.0f} MB"
    )
    newlines = 0
    with open(tmp_path / "Big (1)/result.json", "rb") as f:
        head = f.read(200)
        f.seek(-40, os.SEEK_END)
        tail = f.read()
        f.seek(0)
        while chunk := f.read(1 << 20):
            newlines += chunk.count(b"\n")
    assert head.startswith(b'{\n "name": "Big",\n "type": "public_supergroup",\n "id": 1,\n "messages": [\n  {"id":1,')
    assert tail.endswith(
        b'"id":1000000,"type":"message","date_unixtime":"1700000000","text":"hello there"}\n ]\n}\n'[-40:]
    )
    assert newlines == n + 7  # five header lines, one per message, the closing bracket and brace


def test_writers_need_recovery_first(tmp_path):
    with Vault(tmp_path) as v:
        with pytest.raises(RuntimeError, match="recover"):
            v.chat_writer(1)
        v.recover()
        assert v.chat_writer(1) is v.chat_writer(1)


def test_a_folder_removed_between_commits_is_made_again(tmp_path):
    """The writer remembers the folders it made (no mkdir per commit); one that vanished is made again."""
    with Vault(tmp_path) as v:
        v.recover()
        w = v.chat_writer(1)
        w.append("Chat (1)/2024/2024-03.md", "first\n", header=HEADER)
        w.commit(last_id=1, messages=[])
        shutil.rmtree(tmp_path / "Chat (1)" / "2024")
        w.append("Chat (1)/2024/2024-04.md", "second\n", header=HEADER)
        w.commit(last_id=2, messages=[])
        assert (tmp_path / "Chat (1)/2024/2024-04.md").read_text() == HEADER + "second\n"


def _fixed(data: bytes) -> bytes:
    return data.replace("message 5 ✓".encode(), "message five, corrected ✓".encode())


def _correct(src, length, out) -> bool:
    data = src.read(length)
    if _fixed(data) == data:
        return False
    out.write(_fixed(data))
    return True


def test_a_rewrite_replaces_a_committed_note_and_appends_go_after_it(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 30)
        w = v.chat_writer(1)
        before = (tmp_path / NOTE).read_bytes()
        assert w.rewrite(NOTE, _correct) is True
        assert w.rewrite(NOTE, _correct) is False, "nothing left to change"
        w.append(NOTE, "message 31 ✓\n", header=HEADER)
        w.commit(last_id=31, messages=[])
    assert (tmp_path / NOTE).read_bytes() == _fixed(before) + "message 31 ✓\n".encode()
    with Vault(tmp_path) as v:
        assert v.recover().clean
        assert v.store.pending_rewrites() == []


@pytest.mark.parametrize("stop", ["before the rename", "after the rename"])
def test_a_rewrite_cut_short_leaves_one_whole_note(tmp_path, monkeypatch, stop):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 30)
    before = (tmp_path / NOTE).read_bytes()

    begin = vault_module.StateStore.begin_rewrite

    def crash(store, *args, **kwargs):
        if stop == "before the rename":
            begin(store, *args, **kwargs)  # the intent is recorded, then the process dies
        raise KeyboardInterrupt  # nothing after this runs

    name = "begin_rewrite" if stop == "before the rename" else "end_rewrite"
    monkeypatch.setattr(vault_module.StateStore, name, crash)
    with Vault(tmp_path) as v:
        v.recover()
        with pytest.raises(KeyboardInterrupt):
            v.chat_writer(1).rewrite(NOTE, _correct)
    monkeypatch.undo()
    expected = before if stop == "before the rename" else _fixed(before)
    assert (tmp_path / NOTE).read_bytes() == expected
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.truncated == () and report.modified == (), "the note is one of the two, and known as such"
        assert v.store.pending_rewrites() == []
        w = v.chat_writer(1)
        w.append(NOTE, "message 31 ✓\n", header=HEADER)
        w.commit(last_id=31, messages=[])
    assert (tmp_path / NOTE).read_bytes() == expected + "message 31 ✓\n".encode()


def _block(i: int) -> bytes:
    return block(i).encode()


def write_blocks(v: Vault, ids: range) -> None:
    w = v.chat_writer(1)
    for i in ids:
        w.append(NOTE, _block(i).decode(), header=HEADER)
    w.commit(last_id=ids[-1], messages=[(i, NOTE.removesuffix(".md"), "Bob", f"message {i}") for i in ids])


@pytest.mark.parametrize("typed", [b"\nMy comment on this.\n", b"my own words, no newline", b"\n## Later\n\n"])
def test_text_a_person_appends_to_a_note_is_kept_and_new_messages_follow_it(tmp_path, typed):
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    committed = (tmp_path / NOTE).read_bytes()
    with open(tmp_path / NOTE, "ab") as f:
        f.write(typed)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.truncated == () and report.modified == (NOTE,)
        assert report.notices() == [f"Kept your edits to 1 note ({NOTE}); new messages go after them."]
        write_blocks(v, range(11, 13))
    sep = separator(typed)
    assert (tmp_path / NOTE).read_bytes() == committed + typed + sep + _block(11) + _block(12)
    with Vault(tmp_path) as v:
        assert v.recover().clean


def _torn_commit(root: Path, monkeypatch, ids: range, keep: int) -> None:
    with monkeypatch.context() as m, pytest.raises(Died), Vault(root) as v:
        v.recover()
        die_in_commit(m, {NOTE: keep})
        write_blocks(v, ids)


def test_blocks_a_cut_short_commit_left_go_but_text_typed_after_them_stays(tmp_path, monkeypatch):
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    committed = (tmp_path / NOTE).read_bytes()
    torn = _block(11) + _block(12)
    _torn_commit(tmp_path, monkeypatch, range(11, 14), len(torn) + 20)
    assert (tmp_path / NOTE).read_bytes() == committed + torn + _block(13)[:20]
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.modified == () and report.truncated == ((NOTE, len(committed + torn) + 20, len(committed)),)
    assert (tmp_path / NOTE).read_bytes() == committed
    _torn_commit(tmp_path, monkeypatch, range(11, 14), len(torn))
    with open(tmp_path / NOTE, "ab") as f:
        f.write(b"\nMy note after the crash\n")
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.modified == (NOTE,) and report.rolled_back_bytes == len(torn)
        write_blocks(v, range(11, 12))
    assert (tmp_path / NOTE).read_bytes() == committed + b"\nMy note after the crash\n" + b"\n" + _block(11)


@pytest.mark.parametrize(
    "typed",
    [
        b"**My summary**",  # bold, no newline: Obsidian saves the last line so
        b"*",
        b"**Alice** (me)",
        "**Bob** · 2024-01-05 10:".encode(),  # looks like the start of a block, but no commit wrote it
        b"\0\0typed after zeros",
    ],
)
def test_text_typed_at_the_end_of_a_note_is_never_taken_for_a_cut_short_commit(tmp_path, typed):
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    with open(tmp_path / NOTE, "ab") as f:
        f.write(typed)
    edited = (tmp_path / NOTE).read_bytes()
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.truncated == () and report.modified == (NOTE,)
        write_blocks(v, range(11, 12))
    assert (tmp_path / NOTE).read_bytes() == edited + b"\n\n" + _block(11)


def test_a_block_pasted_at_the_end_of_a_note_stays(tmp_path, monkeypatch):
    """A block copied from another note (an engine block, newer id) after the last commit, and after a commit
    cut short whose own bytes do go."""
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    committed = (tmp_path / NOTE).read_bytes()
    pasted = "**Carol** · 2024-02-01 09:00\nfrom another chat ^m500\n\n".encode()
    with open(tmp_path / NOTE, "ab") as f:
        f.write(pasted)
    with Vault(tmp_path) as v:
        assert v.recover().modified == (NOTE,)
    assert (tmp_path / NOTE).read_bytes() == committed + pasted
    _torn_commit(tmp_path, monkeypatch, range(11, 13), 10)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.rolled_back_bytes == 10
    assert (tmp_path / NOTE).read_bytes() == committed + pasted


def test_a_hard_linked_part_file_is_refused_and_the_other_file_keeps_its_bytes(tmp_path):
    from tobs_tui.engine.media.files import MediaFiles
    from tobs_tui.engine.media.stage import MediaItem
    from tobs_tui.engine.runtime.threads import mark_pool_thread
    from tobs_tui.engine.vault.store import MediaRecord

    root, outside = tmp_path / "vault", tmp_path / "precious.bin"
    outside.write_bytes(b"precious")
    with Vault(root) as v:
        v.recover()
        (root / "Chat (1)" / "media").mkdir(parents=True)
        os.link(outside, root / "Chat (1)" / "media" / "5_photo.jpg.part")
        item = MediaItem(msg_id=5, media_id=9, kind="photo", file_name=None, mime_type=None, size=100, month="")
        # The state DB claims the part file (a download in progress): an unclaimed one would be left alone.
        v.store.upsert_media(MediaRecord(1, 5, 9, "photo", "Chat (1)/media/5_photo.jpg", 100, 0, "partial"))
        files = MediaFiles(v)

        def open_part() -> None:
            mark_pool_thread()  # a pool worker's job, run on a thread of its own here
            files.open_part(1, item, "Chat (1)/media/5_photo.jpg", 100)

        with ThreadPoolExecutor(1) as pool, pytest.raises(UnsafePathError, match=r"5_photo\.jpg\.part shares its"):
            pool.submit(open_part).result()
    assert outside.read_bytes() == b"precious"


def test_a_person_typing_into_a_note_an_unfinished_commit_created_keeps_their_text(tmp_path, monkeypatch):
    header = "---\nchat_id: 1\nmonth: \"2024-03\"\n---\n\n[[Chat (1)/Chat (1)|Chat (1)]] · 2024-03\n\n"
    new_note = "Chat (1)/2024/2024-03.md"
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 5))
    with monkeypatch.context() as m, pytest.raises(Died), Vault(tmp_path) as v:  # a commit that died
        v.recover()
        die_in_commit(m, {})
        w = v.chat_writer(1)
        for i in (5, 6):
            w.append(new_note, block(i), header=header)
        w.commit(last_id=6, messages=[])
    with open(tmp_path / new_note, "a") as f:
        f.write("Typed after the crash\n")
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.modified == (new_note,) and report.removed == ()
        w = v.chat_writer(1)
        w.append(new_note, block(5), header=header)
        w.commit(last_id=5, messages=[(5, new_note.removesuffix(".md"), "Bob", "")])
    expected = header + "Typed after the crash\n" + "\n" + block(5)
    assert (tmp_path / new_note).read_text() == expected
    april = "Chat (1)/2024/2024-04.md"
    with monkeypatch.context() as m, pytest.raises(Died), Vault(tmp_path) as v:
        v.recover()
        die_in_commit(m, {april: len(header.encode()) + 30})
        w = v.chat_writer(1)
        w.append(april, block(7), header=header)
        w.commit(last_id=7, messages=[])
    assert (tmp_path / april).read_bytes() == (header + block(7)).encode()[: len(header.encode()) + 30]
    with Vault(tmp_path) as v:
        assert v.recover().removed == (april,), "only the engine's bytes: removed"


# ---------------------------------------------------------------- back-fill splices

MONTH_HEADER = '---\nchat_id: 1\nchat: "Chat"\nmonth: "2024-01"\n---\n\n[[Chat (1)/Chat (1)|Chat (1)]] · 2024-01\n\n'


def _backfill_vault(root: Path) -> None:
    """Messages 51-60 exported first; then a back-fill stages 41-50 for the same note and 31-40 for an older one."""
    with Vault(root) as v:
        v.recover()
        w = v.chat_writer(1)
        w.append(NOTE, "".join(f"message {i}\n" for i in range(51, 61)), header=MONTH_HEADER)
        w.append_json_line(b"".join(encode_line({"id": i}) for i in range(51, 61)))
        w.commit(last_id=60, messages=[(i, NOTE[:-3], "Bob", "") for i in range(51, 61)])
        v.store.start_backfill(1, after_id=30, before_id=51)
        stage = vault_module.staging_prefix(1)
        older = "Chat (1)/2023/2023-12.md"
        w.append(stage + older, "".join(f"message {i}\n" for i in range(31, 41)), header="---\nolder\n---\n")
        w.append(stage + NOTE, "".join(f"message {i}\n" for i in range(41, 51)), header=MONTH_HEADER)
        w.append_json_line(b"".join(encode_line({"id": i}) for i in range(31, 51)), staged=True)
        w.commit(last_id=50, messages=[(i, "n", "Bob", "") for i in range(31, 51)], backfill_after=50)
        assert v.store.backfill(1) == (50, 51)


def _spliced(root: Path) -> dict[str, bytes]:
    return {
        NOTE: (MONTH_HEADER + "".join(f"message {i}\n" for i in range(41, 61))).encode(),
        "Chat (1)/2023/2023-12.md": ("---\nolder\n---\n" + "".join(f"message {i}\n" for i in range(31, 41))).encode(),
        ".tobs/json/1.jsonl": b"".join(encode_line({"id": i}) for i in range(31, 61)),
    }


def test_a_finished_backfill_is_spliced_in_front_with_one_month_header(tmp_path):
    _backfill_vault(tmp_path)
    with Vault(tmp_path) as v:
        v.recover()
        assert v.chat_writer(1).splice_staged() == 3
    assert tree(tmp_path) == _spliced(tmp_path)
    with Vault(tmp_path) as v:
        assert v.recover().clean
        assert v.chat_writer(1).splice_staged() == 0


@pytest.mark.parametrize("stop", ["before the rename", "after the rename"])
def test_a_splice_cut_short_splices_each_file_exactly_once(tmp_path, monkeypatch, stop):
    _backfill_vault(tmp_path)
    begin = vault_module.StateStore.begin_splice

    def crash(store, *args, **kwargs):
        if stop == "before the rename":
            begin(store, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(vault_module.StateStore, "begin_splice" if stop == "before the rename" else "end_splice", crash)
    with Vault(tmp_path) as v:
        v.recover()
        with pytest.raises(KeyboardInterrupt):
            v.chat_writer(1).splice_staged()
    monkeypatch.undo()
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.truncated == () and report.modified == ()
        assert v.store.pending_rewrites() == []
        v.chat_writer(1).splice_staged()
    assert tree(tmp_path) == _spliced(tmp_path)


# ---------------------------------------------------------------- the vault is the user's


@pytest.mark.parametrize("theirs", [b"Buy milk", b"# February plans\n", b"---\ntags: [mine]\n---\n\nnotes\n\n"])
def test_a_note_a_person_wrote_where_the_next_month_note_goes_is_kept_and_the_messages_follow_it(
    tmp_path, monkeypatch, theirs
):
    february = tmp_path / "Chat (1)/2024/2024-02.md"
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 50)
    february.write_bytes(theirs)
    # A commit that dies after writing its first bytes there: theirs stay.
    with monkeypatch.context() as m, pytest.raises(Died), Vault(tmp_path) as v:
        v.recover()
        die_in_commit(m, {"2024-02.md": 7})
        write_batches(v, 51, 55)
    assert february.read_bytes().startswith(theirs)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.removed == () and ("Chat (1)/2024/2024-02.md", len(theirs) + 7, len(theirs)) in report.truncated
        assert february.read_bytes() == theirs
        write_batches(v, 51, 60)
    body = "".join(block(i) for i in range(51, 61)).encode()
    assert february.read_bytes() == theirs + separator(theirs) + body
    with Vault(tmp_path) as v:
        assert v.recover().clean


def test_a_note_that_appears_between_the_check_and_the_create_stops_the_commit_and_is_adopted_on_retry(
    tmp_path, monkeypatch
):
    february = tmp_path / "Chat (1)/2024/2024-02.md"
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 50)
        w = v.chat_writer(1)
        looked = w._found_in_the_way

        def look_then_someone_writes(new_files):
            found = looked(new_files)
            february.write_bytes(b"typed just now\n")
            return found

        w.append(note_of(51), block(51), header=HEADER)
        monkeypatch.setattr(w, "_found_in_the_way", look_then_someone_writes)
        with pytest.raises(VaultWriteError, match="in the way"):
            w.commit(last_id=51, messages=[(51, note_of(51)[:-3], "Bob", "")])
        monkeypatch.undo()
        assert february.read_bytes() == b"typed just now\n"
        w.commit(last_id=51, messages=[(51, note_of(51)[:-3], "Bob", "")])
    assert february.read_bytes() == b"typed just now\n\n" + block(51).encode()


@pytest.mark.parametrize(
    ("replace", "kept_after"),
    [
        (b"MY SUMMARY of the rest\n", b"MY SUMMARY of the rest\n"),
        (b"\n\n   \n", b""),  # only blank lines after the last whole message: nothing of a person's
    ],
)
def test_messages_deleted_from_a_notes_end_come_back_after_what_a_person_wrote_in_their_place(
    tmp_path, replace, kept_after
):
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    whole = (tmp_path / NOTE).read_bytes()
    kept = whole[: whole.index(_block(9))]
    (tmp_path / NOTE).write_bytes(kept + replace)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.cut_short == (NOTE,) and v.store.repairs(1) == [NOTE]
        assert report.modified == ((NOTE,) if kept_after else ())
        assert (tmp_path / NOTE).read_bytes() == kept + kept_after
        w = v.chat_writer(1)
        assert w.last_id_in(NOTE) == 8
        w.append(NOTE, (_block(9) + _block(10)).decode(), header=HEADER)  # what ChatExport.repair appends
        w.commit(last_id=0, messages=[])
    assert (tmp_path / NOTE).read_bytes() == kept + kept_after + separator(kept + kept_after) + _block(9) + _block(10)


def test_a_note_whose_messages_were_all_replaced_by_a_persons_text_keeps_it(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    mine = MONTH_HEADER.encode() + b"I summarised this month: trip booked.\n"
    (tmp_path / NOTE).write_bytes(mine)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.cut_short == (NOTE,) and report.missing == ()
    assert (tmp_path / NOTE).read_bytes() == mine


def test_a_backfill_keeps_the_front_matter_a_person_edited(tmp_path):
    _backfill_vault(tmp_path)
    note = tmp_path / NOTE
    edited = note.read_bytes().replace(b'month: "2024-01"\n', b'month: "2024-01"\ntags: [trip, FM-MARK]\n', 1)
    assert edited != note.read_bytes()
    note.write_bytes(edited)
    with Vault(tmp_path) as v:
        assert v.recover().modified == (NOTE,)
        assert v.chat_writer(1).splice_staged() == 3
    expected = _spliced(tmp_path)[NOTE].replace(b'month: "2024-01"\n', b'month: "2024-01"\ntags: [trip, FM-MARK]\n')
    assert note.read_bytes() == expected


@pytest.mark.parametrize("saved", ["CRLF", "BOM", "BOM and CRLF"])
def test_a_backfill_into_a_note_an_editor_saved_again_keeps_one_month_header(tmp_path, saved):
    """An editor or a sync on Windows saved the note with CRLF line ends, or a byte order mark: its header is
    still the note's one header, and the back-filled messages go after it, not a second front matter."""
    _backfill_vault(tmp_path)
    note = tmp_path / NOTE
    own = note.read_bytes()
    if "CRLF" in saved:
        own = own.replace(b"\n", b"\r\n")
    if "BOM" in saved:
        own = b"\xef\xbb\xbf" + own
    note.write_bytes(own)
    with Vault(tmp_path) as v:
        assert v.recover().modified == (NOTE,)
        assert v.chat_writer(1).splice_staged() == 3
    head = own.index(b"[[")
    head = own.index(b"\n\n" if saved == "BOM" else b"\r\n\r\n", head) + (2 if saved == "BOM" else 4)
    staged = "".join(f"message {i}\n" for i in range(41, 51)).encode()
    assert note.read_bytes() == own[:head] + staged + own[head:]
    assert note.read_bytes().count(b"chat_id:") == 1


def _immutable(path: Path) -> bool:
    """Make a file unwritable even for root (who ignores file modes): chattr +i where it works, else mode 444."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return True
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode == 0
    return done


def test_a_read_only_note_that_needs_no_change_does_not_stop_the_export(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 60)
    if not _immutable(tmp_path / NOTE):
        pytest.skip("no way to make a file read-only for this user here")
    try:
        with Vault(tmp_path) as v:
            assert v.recover().clean
            write_batches(v, 61, 70)  # February's note only
        with Vault(tmp_path) as v:
            v.recover()
            w = v.chat_writer(1)
            w.append(NOTE, block(1), header=HEADER)
            with pytest.raises(VaultWriteError, match=r"permission to write to .*2024-01\.md"):
                w.commit(last_id=71, messages=[])
    finally:
        subprocess.run(["chattr", "-i", str(tmp_path / NOTE)], capture_output=True, check=False)
        (tmp_path / NOTE).chmod(0o644)


@pytest.mark.parametrize("where", ["note", "year folder", "chat folder", "jsonl"])
def test_something_else_in_the_way_of_a_committed_file_is_one_sentence(tmp_path, where):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 20)
        json_rel = v.chat_writer(1).json_rel
    if where == "note":
        (tmp_path / NOTE).unlink()
        (tmp_path / NOTE).mkdir()
        said = rf"{re.escape(str(tmp_path / NOTE))} is a folder where the export keeps a file"
    elif where == "jsonl":
        (tmp_path / json_rel).unlink()
        (tmp_path / json_rel).mkdir()
        said = r"1\.jsonl is a folder where the export keeps a file"
    else:
        folder = tmp_path / ("Chat (1)/2024" if where == "year folder" else "Chat (1)")
        shutil.rmtree(folder)
        folder.write_text("my file")
        said = rf"A file is in the way at {re.escape(str(folder))};"
    with Vault(tmp_path) as v, pytest.raises(VaultWriteError, match=said):
        v.recover()


def test_a_folder_in_the_temp_folder_does_not_stop_the_recovery_and_is_left_alone(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        (v.tmp_dir / "leftover").mkdir()
        (v.tmp_dir / "leftover" / "x").write_bytes(b"x")
    with Vault(tmp_path) as v:
        assert v.recover().temp_files_deleted == 0
    assert (tmp_path / ".tobs/tmp/leftover/x").read_bytes() == b"x", "the engine makes no folders there: not its own"


def test_a_folder_where_a_new_note_goes_is_one_sentence_and_left_alone(tmp_path):
    february = tmp_path / "Chat (1)/2024/2024-02.md"
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 50)
        february.mkdir()
        (february / "mine.txt").write_bytes(b"mine")
        with pytest.raises(VaultWriteError, match=r"2024-02\.md is a folder where the export keeps a file"):
            write_batches(v, 51, 55)
    assert (february / "mine.txt").read_bytes() == b"mine"


def test_verify_tells_typed_text_from_a_cut_short_commit_and_names_what_is_in_the_way(tmp_path, monkeypatch):
    from tobs_tui.engine.vault.check import check_vault

    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    with open(tmp_path / NOTE, "ab") as f:
        f.write(b"**My summary**")
    found = check_vault(tmp_path)
    assert found.ok and [n for n in found.notes if n.startswith(f"{NOTE}: text added by hand")]
    _torn_commit(tmp_path, monkeypatch, range(11, 13), 30)
    found = check_vault(tmp_path)
    assert [p.problem for p in found.problems] == ["holds 30 bytes an interrupted run left (an export rolls them back)"]
    shutil.rmtree(tmp_path / "Chat (1)/2024")
    (tmp_path / "Chat (1)/2024").write_bytes(b"my file")
    found = check_vault(tmp_path)
    assert [p.problem for p in found.problems] == [
        "cannot be reached: a file is in the way at Chat (1)/2024 (move it away)"
    ]


@pytest.mark.parametrize("cut_in", [9, 1])
def test_a_note_cut_short_inside_a_block_is_repaired_byte_for_byte(tmp_path, cut_in):
    """Cut at any byte (a sync tool, a damaged disk): the start of the cut block is the engine's; the repair
    completes it instead of writing the message again after it."""
    with Vault(tmp_path) as v:
        v.recover()
        w = v.chat_writer(1)
        w.append(NOTE, "".join(block(i) for i in range(1, 11)), header=MONTH_HEADER)
        w.commit(last_id=10, messages=[(i, NOTE.removesuffix(".md"), "Bob", "") for i in range(1, 11)])
    whole = (tmp_path / NOTE).read_bytes()
    cut = whole.index(_block(cut_in)) + 17
    (tmp_path / NOTE).write_bytes(whole[:cut])
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.cut_short == (NOTE,) and report.modified == ()
        w = v.chat_writer(1)
        assert w.last_id_in(NOTE) == cut_in - 1
        w.append(NOTE, "".join(block(i) for i in range(cut_in, 11)), header=MONTH_HEADER)  # the repair's append
        w.commit(last_id=0, messages=[])
    assert (tmp_path / NOTE).read_bytes() == whole


def test_a_rebuilt_state_takes_senders_and_reply_previews_from_the_json_lines(tmp_path):
    """The notes show a message as Markdown (escaped, formatted, a channel post under its signature); the JSONL
    keeps its raw text and sender as the export stored them for reply previews, so a rebuilt state (and every
    note repaired from it) says the same as the state that was lost."""
    folder = "Chan (-1001)"
    note = f"{folder}/2024/2024-01.md"
    header = '---\nchat_id: -1001\nchat: "Chan"\nmonth: "2024-01"\n---\n\n[[Chan (-1001)/Chan (-1001)|Chan (-1001)]] · 2024-01\n\n'
    blocks = [
        "**Chan** (Ann) · 2024-01-05 10:00\n**bold** text \\#tag and \\*stars\\* ^m1\n\n",
        "**Bob** · 2024-01-05 10:01\nplain ^m2\n\n",
    ]
    lines = [
        {
            "id": 1,
            "type": "message",
            "date": "2024-01-05T10:00:00",
            "from": "Chan",
            "author": "Ann",
            "text": [{"type": "bold", "text": "bold"}, " text #tag and *stars*"],
        },
        {"id": 2, "type": "message", "date": "2024-01-05T10:01:00", "from": "Bob", "text": "plain"},
    ]
    with Vault(tmp_path) as v:
        v.recover()
        w = v.chat_writer(-1001)
        for block in blocks:
            w.append(note, block, header=header)
        w.append_json_line(b"".join(encode_line(line) for line in lines))
        w.commit(
            last_id=2, messages=[(1, note[:-3], "Ann", "bold text #tag and *stars*"), (2, note[:-3], "Bob", "plain")]
        )
        v.store.upsert_chat(-1001, title="Chan", kind="channel", username=None, dir_name=folder)
        before = v.store.lookup_messages(-1001, [1, 2])
    for f in (tmp_path / ".tobs").glob("state.sqlite*"):
        f.unlink()
    with Vault(tmp_path) as v:
        assert v.recover().rebuilt
        assert v.store.lookup_messages(-1001, [1, 2]) == before


# ---------------------------------------------------------------- found by review


def test_a_commit_that_fails_twice_on_a_full_disk_keeps_the_record_of_its_first_attempt(tmp_path, monkeypatch):
    """Attempt 1 leaves half its bytes in the note (the disk filled); attempt 2 cannot even write its record.
    The record of attempt 1 must still stand, so the next run rolls its bytes back instead of keeping them as
    a person's text."""
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 11))
    committed = (tmp_path / NOTE).read_bytes()
    full = OSError(errno.ENOSPC, "No space left on device")
    with Vault(tmp_path) as v:
        v.recover()
        w = v.chat_writer(1)
        for i in range(11, 14):
            w.append(NOTE, block(i), header=HEADER)

        def half_then_full(fd: int, data: bytes, offset: int) -> None:
            os.pwrite(fd, data[: len(data) // 2], offset)
            raise full

        with monkeypatch.context() as m:
            m.setattr(vault_module, "pwrite_all", half_then_full)
            with pytest.raises(VaultWriteError, match="full"):
                w.commit(last_id=13, messages=[])
        real_write = os.write
        with monkeypatch.context() as m:
            m.setattr(os, "write", lambda fd, data: (_ for _ in ()).throw(full))
            with pytest.raises(VaultWriteError, match="full"):
                w.commit(last_id=13, messages=[])
        assert os.write is real_write
    assert len((tmp_path / NOTE).read_bytes()) > len(committed)
    with Vault(tmp_path) as v:
        report = v.recover()
        assert report.modified == () and [t[0] for t in report.truncated] == [NOTE]
    assert (tmp_path / NOTE).read_bytes() == committed


def test_a_fifo_where_a_note_is_is_one_sentence_not_a_hang(tmp_path):
    import threading

    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 5))
    (tmp_path / NOTE).unlink()
    os.mkfifo(tmp_path / NOTE)
    outcome: list[BaseException | None] = []

    def recover() -> None:
        try:
            with Vault(tmp_path) as v:
                v.recover()
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=recover, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "recovery hung on the FIFO"
    assert isinstance(outcome[0], VaultWriteError) and "is not a file (a pipe" in str(outcome[0])


def test_an_empty_file_where_the_next_note_goes_is_written_into(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 50)
        february = tmp_path / "Chat (1)/2024/2024-02.md"
        february.touch()
        write_batches(v, 51, 55)
    assert february.read_bytes() == (HEADER + "".join(block(i) for i in range(51, 56))).encode()


def test_text_typed_at_a_notes_end_while_the_export_runs_stays_and_the_messages_follow_it(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        write_blocks(v, range(1, 6))
        with open(tmp_path / NOTE, "ab") as f:
            f.write(b"typed while it ran")  # Obsidian open on the vault during the export
        typed = (tmp_path / NOTE).read_bytes()
        write_blocks(v, range(6, 8))
    assert (tmp_path / NOTE).read_bytes() == typed + b"\n\n" + _block(6) + _block(7)
    with Vault(tmp_path) as v:
        assert v.recover().clean


def test_a_backfill_into_a_month_note_a_person_wrote_keeps_their_note(tmp_path):
    _backfill_vault(tmp_path)
    older = tmp_path / "Chat (1)/2023/2023-12.md"
    older.parent.mkdir()
    older.write_bytes(b"My notes for December\n")
    with Vault(tmp_path) as v:
        v.recover()
        assert v.chat_writer(1).splice_staged() == 3
    expected = ("---\nolder\n---\n" + "".join(f"message {i}\n" for i in range(31, 41))).encode()
    assert older.read_bytes() == expected + b"My notes for December\n"


def test_a_link_loop_or_a_dangling_link_in_the_way_is_named_as_a_link(tmp_path):
    from tobs_tui.engine.vault.vault import write_error

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangle").symlink_to(tmp_path / "nowhere")
    for name in ("loop", "dangle"):
        try:
            os.makedirs(tmp_path / name / "x")
        except OSError as exc:
            said = str(write_error(exc, tmp_path))
        assert "check the disk" not in said, said
    assert str(write_error(OSError(errno.ELOOP, "Too many levels", str(tmp_path / "loop" / "x")), tmp_path)) == (
        f"{tmp_path / 'loop'} is a loop of symlinks, where the export needs a folder or a file of its own; remove"
        " the link and run the export again."
    )
    try:
        os.mkdir(tmp_path / "dangle")
    except OSError as exc:
        assert str(write_error(exc, tmp_path)).startswith(f"{tmp_path / 'dangle'} is a symlink to something that")


@pytest.mark.parametrize("where", ["before it", "in the front matter", "in the link line", "after it", "in a block"])
def test_a_new_note_typed_into_after_a_kill_before_its_front_matter_was_whole_gets_it_back(
    tmp_path, reference, monkeypatch, where
):
    # A kill as the first commit of a month opened its note: nothing, or part of its front matter, written. A
    # person then typed into the note. Their text stays, after the whole front matter the commit was writing
    # (a note starts with its front matter, or Obsidian reads none), and the messages come after their text.
    second = "Chat (1)/2024/2024-02.md"
    head = month_header(1, "Chat", "Chat (1)", "2024-02")  # as the renderer writes it: recovery knows its end
    link = head.index("[[")
    keep = {"before it": 0, "in the front matter": 5, "in the link line": link + 3, "after it": len(head)}.get(
        where, len(head) + 20
    )
    with Vault(tmp_path) as v:
        v.recover()
        write_batches(v, 1, 50)
    with monkeypatch.context() as m, pytest.raises(Died), Vault(tmp_path) as v:
        v.recover()
        die_in_commit(m, {second: keep})
        write_batches(v, 51, 60, header=head)
    typed = b"My note typed into the new month.\n"
    with open(tmp_path / second, "ab") as f:
        f.write(typed)
    with Vault(tmp_path) as v:
        assert v.recover().modified == (second,)
        assert (tmp_path / second).read_bytes() == head.encode() + typed
        write_batches(v, 51, 100, header=head)
    got = tree(tmp_path)
    assert got[second] == head.encode() + typed + b"\n" + reference[second][len(HEADER) :]
    assert {k: v for k, v in got.items() if k != second} == {k: v for k, v in reference.items() if k != second}
