"""The state DB: one-transaction commits, persistence, worker-thread use, message index and media rows."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from tobs_tui.engine.vault.store import MediaRecord, StateStore


@pytest.fixture
def store(tmp_path):
    s = StateStore(tmp_path / "state.sqlite")
    yield s
    s.close()


def test_pragmas_make_commits_durable(store):
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._read("PRAGMA synchronous")[0][0] == 2  # FULL


def test_progress_persists_across_reopen(tmp_path):
    path = tmp_path / "state.sqlite"
    s = StateStore(path)
    assert s.chat_progress(-1001) is None
    s.upsert_chat(-1001, title="Family", kind="group", username=None, dir_name="Family (-1001)")
    s.commit_batch(
        -1001,
        last_id=120,
        file_lengths={"Family (-1001)/2024/2024-01.md": 500},
        messages=[(101, "2024-01", "Bob", "hi"), (120, "2024-01", "Ann", "yo")],
        topic_last_ids={7: 120},
    )
    s.commit_batch(
        -1001,
        last_id=150,
        file_lengths={"Family (-1001)/2024/2024-01.md": 900},
        messages=[(150, "2024-01", "Bob", "later")],
    )
    s.close()
    s = StateStore(path)
    rec = s.chat_progress(-1001)
    assert (rec.title, rec.kind, rec.dir_name, rec.first_id, rec.last_id, rec.message_count) == (
        "Family",
        "group",
        "Family (-1001)",
        101,
        150,
        3,
    )
    assert rec.last_export is not None
    assert s.note_lengths(-1001) == {"Family (-1001)/2024/2024-01.md": 900}
    assert s.topic_last_ids(-1001) == {7: 120}
    assert s.lookup_messages(-1001, [101, 150, 999]) == {
        101: ("2024-01", "Bob", "hi"),
        150: ("2024-01", "Bob", "later"),
    }
    # upsert keeps progress while renaming
    s.upsert_chat(-1001, title="Family 2", kind="group", username="fam", dir_name="Family (-1001)")
    assert s.chat_progress(-1001).last_id == 150
    assert s.chat_progress(-1001).username == "fam"
    s.close()


def test_a_failing_commit_changes_nothing(store):
    store.upsert_chat(5, title="A", kind="user", username=None, dir_name="A (5)")
    store.commit_batch(5, last_id=10, file_lengths={"A (5)/n.md": 10}, messages=[(10, "n", "x", "y")])
    with pytest.raises(sqlite3.Error):
        # the second message row is malformed: the whole batch, including progress and lengths, rolls back
        store.commit_batch(
            5, last_id=20, file_lengths={"A (5)/n.md": 99}, messages=[(20, "n", "x", "y"), (21, None, "x", "y")]
        )
    assert store.chat_progress(5).last_id == 10
    assert store.note_lengths(5) == {"A (5)/n.md": 10}
    assert store.lookup_messages(5, [20]) == {}


def test_a_batchs_media_rows_commit_and_roll_back_with_it(store):
    store.upsert_chat(5, title="A", kind="user", username=None, dir_name="A (5)")
    photo = MediaRecord(chat_id=5, msg_id=10, media_id=77, kind="photo", path="A (5)/media/p.jpg", size=9)
    store.commit_batch(5, last_id=10, file_lengths={"A (5)/n.md": 10}, messages=[(10, "n", "x", "y")], media=[photo])
    assert store.media_record(5, 10) == photo
    video = MediaRecord(chat_id=5, msg_id=20, media_id=78, kind="video", path="A (5)/media/v.mp4", size=9)
    with pytest.raises(sqlite3.Error):
        store.commit_batch(
            5,
            last_id=20,
            file_lengths={"A (5)/n.md": 99},
            messages=[(20, "n", "x", "y"), (21, None, "x", "y")],
            media=[video],
        )
    assert store.media_record(5, 20) is None


def test_commits_from_many_worker_threads(store):
    errors: list[BaseException] = []

    def work(chat_id: int) -> None:
        try:
            for batch in range(20):
                ids = range(batch * 10 + 1, batch * 10 + 11)
                store.commit_batch(
                    chat_id,
                    last_id=ids[-1],
                    file_lengths={f"c{chat_id}.md": ids[-1]},
                    messages=[(i, "n", "s", "t") for i in ids],
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(cid,)) for cid in range(1, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for cid in range(1, 7):
        assert store.chat_progress(cid).last_id == 200
        assert store.chat_progress(cid).message_count == 200
        assert len(store.lookup_messages(cid, range(1, 201))) == 200


def test_lookup_many_ids(store):
    store.commit_batch(1, last_id=3000, file_lengths={}, messages=[(i, f"n{i % 3}", "s", "t") for i in range(1, 3001)])
    found = store.lookup_messages(1, list(range(3002)) * 2)
    assert len(found) == 3000 and found[2999] == ("n2", "s", "t")


def test_new_files_are_registered_before_writing(store):
    store.register_new_files(3, ["a.md", "b.md"])
    assert store.note_lengths(3) == {}  # not committed yet
    assert {(f.path, f.length) for f in store.all_files()} == {("a.md", 0), ("b.md", 0)}
    store.commit_batch(3, last_id=1, file_lengths={"a.md": 4}, messages=[], file_tails={"a.md": b"abcd"})
    assert store.note_lengths(3) == {"a.md": 4}
    store.forget_file("b.md")
    assert [(f.path, f.length, f.tail) for f in store.all_files()] == [("a.md", 4, b"abcd")]


def test_media_rows(store):
    rec = MediaRecord(chat_id=1, msg_id=5, media_id=777, kind="photo", path="A (1)/media/5_photo.jpg", size=1000)
    store.upsert_media(rec)
    assert store.media_record(1, 5) == rec
    done = MediaRecord(**{**rec.__dict__, "bytes_done": 1000, "status": "done", "sha256": "ab" * 32})
    store.upsert_media(done)
    assert store.media_record(1, 5) == done
    assert store.media_record(1, 6) is None
