"""The vault root's result.json: every chat, streamed from the committed lines, memory flat at a million; what
stands in the way of it or of a chat's index note."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.unit.engine.vault.test_vault import CHILD_ENV
from tobs_tui.engine.pipeline.finish import RESULT_JSON_LAYOUT, write_account_json, write_index_note
from tobs_tui.engine.runtime.threads import mark_pool_thread
from tobs_tui.engine.vault.jsonl import encode_line
from tobs_tui.engine.vault.vault import Vault, VaultWriteError

ACCOUNT_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import psutil
from tobs_tui.engine.pipeline.finish import write_account_json
from tobs_tui.engine.runtime.threads import mark_pool_thread
from tobs_tui.engine.vault.vault import Vault

mark_pool_thread()  # as a DualPool worker, where the export runs it
with Vault(Path(sys.argv[1])) as v:
    v.recover()
    before_rss = psutil.Process().memory_info().rss
    before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    count = write_account_json(v)  # the chat's own file first (no layout recorded yet), then the root one
    seconds = time.perf_counter() - started
    after_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"count": count, "seconds": seconds, "growth": max(0, after_peak - max(before_peak, before_rss))}))
"""


def line(i: int, folder: str) -> bytes:
    item = {"id": i, "type": "message", "date_unixtime": "1700000000", "text": "hello there"}
    if i % 10 == 0:
        item["photo"] = f"{folder}/media/photo/2023-11/{i}.jpg"
    return encode_line(item)


def fill(vault: Vault, chat_id: int, title: str, n: int, step: int = 100_000) -> None:
    folder = f"{title} ({chat_id})"
    vault.store.upsert_chat(chat_id, title=title, kind="supergroup", username=None, dir_name=folder)
    w = vault.chat_writer(chat_id)
    for start in range(1, n + 1, step):
        for i in range(start, min(n, start + step - 1) + 1):
            w.append_json_line(line(i, folder))
        w.commit(last_id=min(n, start + step - 1), messages=[])


def on_pool_thread(fn, *args):
    """As the export runs it: on a worker thread (the thread checks are on in tests)."""
    with ThreadPoolExecutor(1, initializer=mark_pool_thread) as pool:
        return pool.submit(fn, *args).result()


def test_the_account_file_lists_every_chat_with_paths_from_the_vault_root(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        fill(v, 7, "Seven", 25)
        fill(v, 9, "Nine", 12)
        v.store.upsert_chat(11, title="Nothing yet", kind="user", username=None, dir_name="Nothing yet (11)")
        assert on_pool_thread(write_account_json, v) == 37
    account = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert list(account) == ["about", "chats"] and list(account["chats"]) == ["about", "list"]
    chats = account["chats"]["list"]
    assert [(c["name"], c["type"], c["id"], len(c["messages"])) for c in chats] == [
        ("Seven", "private_supergroup", 7, 25),
        ("Nine", "private_supergroup", 9, 12),
    ]
    assert chats[0]["messages"][9]["photo"] == "Seven (7)/media/photo/2023-11/10.jpg"
    # Each chat's own file, written again since no layout was recorded: the same messages, paths from its folder.
    own = json.loads((tmp_path / "Seven (7)" / "result.json").read_text(encoding="utf-8"))
    assert own["messages"][9]["photo"] == "media/photo/2023-11/10.jpg"
    assert [m["id"] for m in own["messages"]] == [m["id"] for m in chats[0]["messages"]]


def test_the_account_file_for_a_million_messages_keeps_memory_flat(tmp_path):
    n = 1_000_000
    with Vault(tmp_path) as v:
        v.recover()
        fill(v, 1, "Big", n // 2)
        fill(v, 2, "Other", n // 2)
    out = subprocess.run(
        [sys.executable, "-c", ACCOUNT_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=CHILD_ENV,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["count"] == n
    size = (tmp_path / "result.json").stat().st_size
    assert size > 70_000_000
    assert result["growth"] < 20_000_000, result
    print(
        f"account result.json of {n} messages ({size / 1e6:.0f} MB) and both chat files: "
        f"{result['seconds']:.1f} s, peak RSS growth {result['growth'] / 1e6:.1f} MB"
    )
    with open(tmp_path / "result.json", "rb") as f:
        f.seek(-120, 2)
        assert f.read().endswith(b'Other (2)/media/photo/2023-11/500000.jpg"}\n    ]\n   }\n  ]\n }\n}\n')


def test_a_folder_in_the_way_of_a_chat_file_does_not_stop_the_account_file_and_one_in_its_own_way_is_a_sentence(
    tmp_path,
):
    with Vault(tmp_path) as v:
        v.recover()
        fill(v, 7, "Seven", 25)
        fill(v, 9, "Nine", 12)
        (tmp_path / "Seven (7)" / "result.json").mkdir(parents=True)  # its old-layout file cannot be rewritten
        assert on_pool_thread(write_account_json, v) == 37
        account = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
        assert [len(c["messages"]) for c in account["chats"]["list"]] == [25, 12]
        assert v.store.result_json_layouts() == {9: RESULT_JSON_LAYOUT}, "Seven's is tried again next time"

        (tmp_path / "result.json").unlink()
        (tmp_path / "result.json").mkdir()
        with pytest.raises(VaultWriteError) as caught:
            on_pool_thread(write_account_json, v)
    assert str(caught.value) == (
        f"a folder is in the way at {tmp_path / 'result.json'}; move or rename it and run the export again, which"
        " writes it from the messages already exported."
    )


def test_an_index_note_keeps_bytes_that_are_not_utf8_and_a_folder_in_its_way_is_not_read(tmp_path):
    with Vault(tmp_path) as v:
        v.recover()
        note = tmp_path / "Seven (7)" / "Seven (7).md"
        note.parent.mkdir()
        note.write_bytes(b"caf\xe9 \xff my notes\n")

        def render(old):
            return f"---\nid: 7\n---\n{old}"

        assert on_pool_thread(write_index_note, v, "Seven (7)/Seven (7).md", render) is None
        assert note.read_bytes() == b"---\nid: 7\n---\ncaf\xe9 \xff my notes\n"
        note.unlink()
        note.mkdir()
        with pytest.raises(VaultWriteError, match="A folder is in the way"):
            on_pool_thread(write_index_note, v, "Seven (7)/Seven (7).md", render)
        assert note.is_dir()


def test_a_result_json_this_engine_did_not_write_is_kept_beside_the_vaults_own(tmp_path):
    """--out may be the folder of Telegram Desktop's own export, whose result.json has the same name."""
    theirs = b'{\n "about": "Here is the data you requested.",\n "chats": {"list": []}\n}\n'
    (tmp_path / "result.json").write_bytes(theirs)
    said: list[str] = []
    with Vault(tmp_path) as v:
        v.recover()
        fill(v, 7, "Seven", 5)
        assert on_pool_thread(write_account_json, v, said.append) == 5
        assert (tmp_path / "result (not written by tobs-tui).json").read_bytes() == theirs
        assert json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))["chats"]["list"][0]["id"] == 7
        assert said == [
            f"A result.json this export did not write was in {tmp_path}; it was kept as \"result (not written by"
            " tobs-tui).json\" and the vault's own result.json written in its place."
        ]
        # The vault's own file is written over on the next run, as before: nothing more is set aside.
        fill(v, 9, "Nine", 3)
        assert on_pool_thread(write_account_json, v, said.append) == 8
    assert len(said) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("result")) == [
        "result (not written by tobs-tui).json",
        "result.json",
    ]
