"""Bad world files (the emulator is part of the product): every one is refused by the loader in one sentence, and a
server that cannot answer stops the export with a sentence instead of reconnecting forever."""

from __future__ import annotations

import time

import pytest

from tests.support.runners import running_emulator
from tests.support.settings import WAIT
from tobs_tui.emulator import Emulator
from tobs_tui.emulator.world import World
from tobs_tui.emulator.worldfile import WorldFileError
from tobs_tui.engine import ChatSelection, ChatState, ExportRequest


def world_data(**chat) -> dict:
    return {"seed": 3, "generated_users": 3, "chats": [{"kind": "supergroup", "title": "ok", "messages": 5, **chat}]}


BAD_JSON = [
    ("[]", "a table of keys at the top"),
    ('{"chats": [5]}', "chat 1 must be a table of keys"),
    ('{"chats": 5}', "'chats' must be a list of tables"),
    ('{"users": {"id": 5}}', "'users' must be a list of tables"),
    ('{"self": []}', "[self] must be a table of keys"),
    ('{"seed": "x"}', "'seed' must be a whole number"),
    ('{"seed": 1.5}', "'seed' must be a whole number"),
    ('{"seed": true}', "'seed' must be a whole number"),
    ("Infinity", "Infinity is not a number JSON allows"),
    ('{"seed": NaN}', "NaN is not a number JSON allows"),
    ('{"seed": 1e400}', "'seed' must be a whole number"),
    ('{"max_file_size": -1}', "'max_file_size' must be a whole number"),
    ('{"generated_users": 100000000}', "'generated_users' must be a whole number"),
    ('{"chats": [{"title": 5}]}', "'title' of chat 1 must be text, not 5"),
    ('{"chats": [{"title": "\\ud800"}]}', "lone surrogate"),
    ('{"chats": [{"topics": ["a", 5], "kind": "forum"}]}', "'topics' of chat 1 must be a list of text"),
    ('{"chats": [{"id": 3000000000000}]}', "'id' of chat 1 must be a whole number from 1 to 999,999,999,999"),
    ('{"chats": [{"messages": 3000000000}]}', "'messages' of chat 1 must be a whole number from 1 to 2,147,483,647"),
    ('{"chats": [{"messages": 0}]}', "'messages' of chat 1"),
    ('{"chats": [{"media": 2}]}', "'media' of chat 1 must be a number from 0 to 1"),
    ('{"chats": [{"span_days": -3}]}', "'span_days' of chat 1"),
    ('{"chats": [{"hostile": "false"}]}', "'hostile' of chat 1 must be true or false"),
    ('{"chats": [{"members": [1000, "x"]}]}', "'members' of chat 1 must be a list of user ids"),
    ('{"users": [{"id": 9223372036854775808}]}', "'id' of user 1 must be a whole number"),
    ('{"users": [{"id": -5}]}', "'id' of user 1 must be a whole number"),
    ('{"users": [{"id": 2000, "first_name": ["a"]}]}', "'first_name' of user 1 must be text"),
    ('{"generated_users": 3, "chats": [{"messages": 10, "span_days": 20000, "repeat": 80000}]}', "before 1970"),
    ('{"seed": ' + "[" * 5000 + "]" * 5000 + "}", "is nested too deeply to read; fix the file"),
    ('{"seed": ' + "[" * 100 + "]" * 100 + "}", "is nested too deeply (more than 32 levels); fix the file"),
    ('{"seed": ' + "9" * 5000 + "}", "holds a number too large to read (more than 4300 digits); fix the file"),
    ('{"bar": 2}', "Unknown key 'bar' at the top of the world file; known keys"),
    ('{"chats": [{"foo": 1}]}', "Unknown key 'foo' in chat 1 of the world file"),
    ('{"users": [{"id": 100}]}', "user 1 has id 100, the id of the logged-in account"),
    ('{"users": [{"id": 5}, {"id": 5}]}', "user 2 has id 5, which user 1 has already"),
    ('{"users": [{"first_name": "A"}, {"id": 1000}]}', "which user 1 (it has no 'id', so it got the next free one)"),
    ('{"generated_users": 3, "users": [{"id": 1001}]}', "generated_users gives to a generated user (ids 1000 to 1002)"),
    (
        '{"users": [{"id": 5}], "chats": [{"kind": "private", "user": 5}, {"kind": "private", "user": 5}]}',
        "chat 2 is a second private chat with user 5; Telegram has one private chat per user",
    ),
    (
        '{"users": [{"id": 5}], "chats": [{"kind": "private", "repeat": 2}]}',
        "chat 1 needs a user without a private chat, but every user has one",
    ),
    ('{"chats": [{"username": "bad name!"}]}', "'username' of chat 1 must be a Telegram username"),
    ('{"chats": [{"username": "abc"}]}', "'username' of chat 1 must be a Telegram username: 5 to 32"),
    ('{"chats": [{"username": "abcde_"}]}', "'username' of chat 1 must be a Telegram username"),
    ('{"chats": [{"username": "1abcde"}]}', "'username' of chat 1 must be a Telegram username"),
    ('{"users": [{"id": 5, "username": "' + "a" * 33 + '"}]}', "'username' of user 1 must be a Telegram username"),
    ('{"self": {"username": "me"}}', "'username' of [self] must be a Telegram username"),
    (
        '{"chats": [{"username": "shared_name"}, {"kind": "channel", "username": "Shared_Name"}]}',
        "chat 2 has the username 'Shared_Name', which chat 1 has already; Telegram usernames are unique",
    ),
    ('{"self": {"username": "tobs_demo2"}, "users": [{"id": 5, "username": "TOBS_demo2"}]}', "which [self] has"),
    (
        '{"chats": [{"kind": "group", "username": "group_name"}]}',
        "chat 1 is a group chat, which cannot have 'username'",
    ),
    ('{"generated_users": 3, "chats": [{"kind": "private", "members": [1000]}]}', "cannot have 'members'"),
    ('{"chats": [{"kind": "supergroup", "topics": ["a"]}]}', "cannot have 'topics' on Telegram"),
    ('{"generated_users": 3, "chats": [{"kind": "channel", "user": 1000}]}', "cannot have 'user' on Telegram"),
]


def one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith("."), message
    assert "Traceback" not in message and "Error" not in message.split(":")[0], message


@pytest.mark.parametrize(("text", "needle"), BAD_JSON, ids=[t if len(t) < 80 else t[:76] + "..." for t, _ in BAD_JSON])
def test_every_bad_json_world_file_is_one_sentence(tmp_path, text, needle):
    path = tmp_path / "w.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorldFileError) as caught:
        Emulator(world=path)
    assert needle in str(caught.value), str(caught.value)
    one_sentence(str(caught.value))


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("w.json", b'{"chats": [{"title": "\xff\xfe"}]}', "is not UTF-8 text (byte 0xff at offset 22)"),
        ("w.toml", b"seed = 'x'\n", "'seed' must be a whole number"),
        ("w.toml", b"seed = inf\n", "'seed' must be a whole number"),
        ("w.toml", b"[[chats]]\nmedia = nan\n", "'media' of chat 1 must be a number"),
        ("w.toml", b"[[chats]]\ntitle = 5\n", "'title' of chat 1 must be text"),
        ("w.yaml", b"seed: 1\n", "is neither .toml nor .json"),
        ("w", b"seed = 1\n", "is neither .toml nor .json"),
    ],
)
def test_bad_bytes_toml_and_other_names_are_one_sentence(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WorldFileError) as caught:
        World.load(path)
    assert needle in str(caught.value), str(caught.value)
    assert "not valid YAML" not in str(caught.value)
    one_sentence(str(caught.value))


@pytest.mark.parametrize("name", ["w.json", "w.toml"])
def test_a_byte_order_mark_at_the_start_is_ignored(tmp_path, name):
    path = tmp_path / name
    text = '{"seed": 7}' if name == "w.json" else "seed = 7\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert World.load(path).seed == 7


def test_the_same_username_in_another_kind_of_peer_and_valid_usernames_load():
    world = World(
        {
            "self": {"username": "Ada_Lovelace_1815"},
            "users": [{"id": 5, "username": "grace_h"}],
            "chats": [{"kind": "channel", "username": "a" * 32}, {"kind": "private", "user": 5}],
        }
    )
    assert world.peer_by_username("@GRACE_H") == 5 and world.peer_by_username("a" * 32) is not None


def test_private_chats_without_a_user_pass_over_users_that_have_one():
    """The next user in turn, unless an earlier chat took that user: no chat is dropped without a word."""
    world = World(
        {
            "users": [{"id": 5}, {"id": 6}, {"id": 7}],
            "chats": [{"kind": "private", "user": 6}, {"kind": "private", "repeat": 2}],
        }
    )
    assert sorted(world.chat_ids()) == [5, 6, 7]


def test_the_largest_values_the_loader_accepts_are_served(make_runner, tmp_path):
    """The bounds are what the server can send: ids just below them export like any others."""
    data = {
        "seed": 2**64 - 1,
        "users": [{"id": 2**52 - 1, "first_name": "Max"}],
        "chats": [
            {"kind": "private", "user": 2**52 - 1, "messages": 5},
            {"kind": "group", "id": 10**12 - 1, "title": "Big group", "messages": 5, "members": [2**52 - 1]},
            {"kind": "channel", "id": 10**12 - 1, "title": "Big channel", "messages": 5},
        ],
    }
    with running_emulator(world=World(data)) as emu:
        runner = make_runner(emu=emu, out=tmp_path / "v")
        assert runner.connect().result(WAIT)
        dialogs = runner.list_dialogs().result(WAIT)
        final = runner.start_export(ExportRequest(tuple(ChatSelection(d.chat_id) for d in dialogs))).result(WAIT)
    assert len(dialogs) == 3 and [c.state for c in final.chats] == [ChatState.DONE] * 3, final.errors
    assert final.messages_done == 15


def test_a_server_that_fails_on_every_reply_stops_the_export_with_a_sentence(make_runner, tmp_path):
    """A value the loader let through but TL cannot carry (here a chat's title turned into a number after loading)
    makes every reply about that chat fail: the export says so and ends, instead of reconnecting forever."""
    world = World(
        {
            "seed": 3,
            "generated_users": 3,
            "chats": [
                {"kind": "supergroup", "title": "ok", "messages": 30},
                {"kind": "supergroup", "title": "bad", "messages": 30},
            ],
        }
    )
    with running_emulator(world=world) as emu:
        runner = make_runner(emu=emu, out=tmp_path / "v")
        assert runner.connect().result(WAIT)
        dialogs = runner.list_dialogs().result(WAIT)
        bad = next(p for p, c in world.chats.items() if c.title == "bad")
        world.chats[bad].title = 5  # type: ignore[assignment]
        world._tl_chats.clear()
        started = time.monotonic()
        final = runner.start_export(ExportRequest(tuple(ChatSelection(d.chat_id) for d in dialogs))).result(WAIT)
        took = time.monotonic() - started
    states = {c.title: c for c in final.chats}
    assert states["ok"].state is ChatState.DONE and states["ok"].messages_done == 30
    assert states["bad"].state is ChatState.FAILED, states["bad"]
    error = states["bad"].error or ""
    one_sentence(error)
    assert took < 30, took


def test_a_dialog_list_that_fails_on_every_reply_is_one_sentence(make_runner, tmp_path):
    from tobs_tui.engine import TelegramRefusedError

    world = World(world_data())
    next(iter(world.chats.values())).title = 5  # type: ignore[assignment]  # past the loader, as a bug would be
    world._tl_chats.clear()
    with running_emulator(world=world) as emu:
        runner = make_runner(emu=emu, out=tmp_path / "v")
        assert runner.connect().result(WAIT)
        started = time.monotonic()
        with pytest.raises(TelegramRefusedError) as caught:
            runner.list_dialogs().result(WAIT)
    assert time.monotonic() - started < 30
    assert "refused to list your chats (EMULATOR_HANDLER_FAILED)" in str(caught.value)
    one_sentence(str(caught.value))


@pytest.mark.parametrize(("text", "needle"), BAD_JSON[:12], ids=[t for t, _ in BAD_JSON[:12]])
def test_tobs_tui_emulator_prints_the_one_sentence_and_exits_2(capsys, tmp_path, text, needle):
    from tobs_tui import cli

    path = tmp_path / "w.json"
    path.write_text(text, encoding="utf-8")
    code = cli.main(["emulator", "--world", str(path), "--session-out", str(tmp_path / "s.txt")])
    out, err = capsys.readouterr()
    assert code == 2 and not out and not (tmp_path / "s.txt").exists()
    assert err.count("\n") == 1 and needle in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["export", "chats"])
@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("w.json", "[]", "a table of keys at the top"),
        ("w.json", '{"chats": [{"title": 5}]}', "'title' of chat 1 must be text"),
        ("w.json", "Infinity", "Infinity is not a number JSON allows"),
        ("w.yaml", "seed: 1\n", "is neither .toml nor .json"),
    ],
)
def test_export_and_chats_print_the_one_sentence(capsys, tmp_path, command, name, text, needle):
    from tobs_tui import cli

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    argv = [command, "--emulator", "lan", "--world", str(path)]
    if command == "export":
        argv += ["--all", "--out", str(tmp_path / "v")]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and not out, (out, err)
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "v").exists()
