"""The emulator's method handlers, called directly with real Telethon request objects."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telethon.password import compute_check
from telethon.tl import functions, types

from tobs_tui.emulator.api import Api, CallContext
from tobs_tui.emulator.content import PHOTO
from tobs_tui.emulator.errors import RpcError
from tobs_tui.emulator.specs import CHANNEL_MARK
from tobs_tui.emulator.world import World

KEY = 77
CTX = CallContext(auth_key_id=KEY, conn_id=1, takeout_id=None, dc_id=2, host="127.0.0.1", port=4321)


@pytest.fixture(scope="module")
def world() -> World:
    return World.synthetic(1, scale="test")


@pytest.fixture(scope="module")
def api(world) -> Api:
    a = Api(world)
    a.authorize(KEY)
    return a


def by_title(world: World, title: str):
    """A chat by title; private chats (titled after a seeded user) by "private:<message count>"."""
    if title.startswith("private:"):
        count = int(title.split(":")[1])
        return next(
            world.chats[p]
            for p in world.chat_ids()
            if world.chats[p].kind == "private" and world.chats[p].count == count
        )
    return next(world.chats[p] for p in world.chat_ids() if world.chats[p].title == title)


def input_peer(world: World, spec):
    if spec.kind == "private":
        return types.InputPeerUser(spec.raw_id, world.access_hash(spec.raw_id))
    if spec.kind == "group":
        return types.InputPeerChat(spec.raw_id)
    return types.InputPeerChannel(spec.raw_id, world.access_hash(spec.raw_id))


def history(api, peer, *, offset_id=0, offset_date=None, add_offset=0, limit=100, max_id=0, min_id=0):
    return api.call(
        functions.messages.GetHistoryRequest(peer, offset_id, offset_date, add_offset, limit, max_id, min_id, 0), CTX
    )


def reference_window(ids_asc, dates, *, offset_id, offset_date, add_offset, limit, max_id, min_id):
    """Telegram's documented paging, written the slow obvious way."""
    desc = [i for i in reversed(ids_asc) if (not max_id or i < max_id) and i > min_id]
    if offset_id:
        i = next((n for n, x in enumerate(desc) if x < offset_id), len(desc))
    elif offset_date:
        i = next((n for n, x in enumerate(desc) if dates[x] < offset_date), len(desc))
    else:
        i = 0
    limit = min(limit, 100) if limit > 0 else 100
    return desc[max(i + add_offset, 0) : max(i + add_offset + limit, 0)]


def test_unknown_method_and_unauthorised_key(api):
    with pytest.raises(RpcError) as e:
        api.call(functions.messages.SendMessageRequest(types.InputPeerSelf(), "hi"), CTX)
    assert (e.value.code, e.value.message) == (400, "METHOD_NOT_SUPPORTED")
    stranger = CallContext(auth_key_id=999, conn_id=2, takeout_id=None, dc_id=2)
    with pytest.raises(RpcError) as e:
        api.call(functions.users.GetUsersRequest([types.InputUserSelf()]), stranger)
    assert (e.value.code, e.value.message) == (401, "AUTH_KEY_UNREGISTERED")
    assert not api.is_authorized(999) and api.is_authorized(KEY)
    # The config is served before login: Telethon asks for it on every connect.
    assert api.call(functions.help.GetConfigRequest(), stranger).this_dc == 2


def test_config_points_at_this_server(api):
    config = api.call(functions.help.GetConfigRequest(), CTX)
    assert [(o.id, o.ip_address, o.port) for o in config.dc_options] == [(2, "127.0.0.1", 4321)]
    bytes(config)


def test_connect_sequence(api, world):
    users = api.call(functions.users.GetUsersRequest([types.InputUserSelf()]), CTX)
    assert [u.id for u in users] == [world.self_user_id] and users[0].is_self
    assert isinstance(api.call(functions.updates.GetStateRequest(), CTX), types.updates.State)
    diff = api.call(functions.updates.GetDifferenceRequest(1, datetime(2026, 1, 1, tzinfo=UTC), 0), CTX)
    assert isinstance(diff, types.updates.DifferenceEmpty)


def test_history_result_types(api, world):
    private = by_title(world, "private:80")  # 80 messages: everything fits one page
    r = history(api, input_peer(world, private))
    assert isinstance(r, types.messages.Messages) and len(r.messages) == 80
    big_private = by_title(world, "private:500")
    r = history(api, input_peer(world, big_private))
    assert isinstance(r, types.messages.MessagesSlice) and r.count == 500 and len(r.messages) == 100
    channel = by_title(world, "Quiet channel")
    r = history(api, input_peer(world, channel))
    assert isinstance(r, types.messages.ChannelMessages) and r.count == 60
    assert {c.id for c in r.chats} == {channel.raw_id}
    bytes(r)


def test_limit_is_capped_at_100_and_messages_are_newest_first(api, world):
    spec = by_title(world, "Ten Thousand")
    r = history(api, input_peer(world, spec), limit=500)
    assert [m.id for m in r.messages] == list(range(10_000, 9_900, -1))


def test_offset_id_wins_over_offset_date_and_1970_means_unset(api, world):
    spec = by_title(world, "Ten Thousand")
    peer = input_peer(world, spec)
    late = datetime.fromtimestamp(spec.date_of(500), tz=UTC)
    r = history(api, peer, offset_id=200, offset_date=late, limit=3)
    assert [m.id for m in r.messages] == [199, 198, 197]
    r = history(api, peer, offset_date=late, limit=3)
    assert all(m.date < late for m in r.messages) and r.messages[0].id < 500
    epoch = datetime.fromtimestamp(0, tz=UTC)  # what Telethon's None decodes to on the server
    assert [m.id for m in history(api, peer, offset_date=epoch, limit=2).messages] == [10_000, 9_999]


@settings(max_examples=120, deadline=None)
@given(
    which=st.sampled_from(["Ten Thousand", "private:500", "Family 🏡"]),
    offset=st.integers(0, 10_050),
    use_date=st.booleans(),
    add_offset=st.integers(-150, 50),
    limit=st.integers(1, 120),
    max_id=st.integers(0, 10_050),
    min_id=st.integers(0, 10_050),
)
def test_history_window_matches_telegram(api, world, which, offset, use_date, add_offset, limit, max_id, min_id):
    spec = by_title(world, which)
    ids = list(spec.ids())
    scale = max(ids) / 10_050  # spread the drawn numbers over this chat's (possibly strided) ids
    offset_id, max_id, min_id = int(offset * scale), int(max_id * scale), int(min_id * scale)
    dates = {i: spec.date_of_id(i) for i in ids}
    offset_date = None
    if use_date:
        offset_date = datetime.fromtimestamp(dates[ids[min(len(ids) - 1, offset % len(ids))]], tz=UTC)
        offset_id = 0
    expected = reference_window(
        ids,
        dates,
        offset_id=offset_id,
        offset_date=offset_date and offset_date.timestamp(),
        add_offset=add_offset,
        limit=limit,
        max_id=max_id,
        min_id=min_id,
    )
    r = history(
        api,
        input_peer(world, spec),
        offset_id=offset_id,
        offset_date=offset_date,
        add_offset=add_offset,
        limit=limit,
        max_id=max_id,
        min_id=min_id,
    )
    assert [m.id for m in r.messages] == expected


def test_reverse_paging_the_way_telethon_does(api, world):
    spec = by_title(world, "Family 🏡")
    peer = input_peer(world, spec)
    seen, offset = [], 1
    while True:
        r = history(api, peer, offset_id=offset, add_offset=-100, limit=100)
        if not r.messages:
            break
        batch = [m.id for m in reversed(r.messages)]
        seen += batch
        offset = batch[-1] + 1
    assert seen == list(spec.ids())


def test_dialogs_walk_visits_every_chat_once_in_order(api, world):
    order = world.chat_ids()
    r = api.call(functions.messages.GetDialogsRequest(None, 0, types.InputPeerEmpty(), 100, 0), CTX)
    assert isinstance(r, types.messages.Dialogs)
    assert [utils_peer(d.peer) for d in r.dialogs] == order
    seen = []
    req = functions.messages.GetDialogsRequest(None, 0, types.InputPeerEmpty(), 5, 0)
    while True:
        r = api.call(req, CTX)
        assert isinstance(r, types.messages.DialogsSlice) and r.count == len(order)
        seen += [utils_peer(d.peer) for d in r.dialogs]
        if len(r.dialogs) < req.limit:
            break
        last = r.dialogs[-1]
        msg = next(m for m in r.messages if m.id == last.top_message and utils_peer(m.peer_id) == utils_peer(last.peer))
        req.offset_date, req.offset_id = msg.date, msg.id
        req.offset_peer = input_peer(world, world.chats[utils_peer(last.peer)])
    assert seen == order


def test_peer_dialogs(api, world):
    wanted = [world.chats[p] for p in world.chat_ids()[:3]]
    r = api.call(
        functions.messages.GetPeerDialogsRequest([types.InputDialogPeer(input_peer(world, s)) for s in wanted]), CTX
    )
    assert [utils_peer(d.peer) for d in r.dialogs] == [s.peer_id for s in wanted]
    assert [m.id for m in r.messages] == [s.top_id for s in wanted]
    bytes(r)


def utils_peer(peer) -> int:
    if isinstance(peer, types.PeerUser):
        return peer.user_id
    if isinstance(peer, types.PeerChat):
        return -peer.chat_id
    return -(CHANNEL_MARK + peer.channel_id)


def test_vanished_and_unknown_peers_fail_like_telegram():
    world = World.synthetic(2, scale="test")
    api = Api(world)
    api.authorize(KEY)
    channel = by_title(world, "News Channel")
    group = by_title(world, "Book club 📚")
    for spec in (channel, group):
        world.delete_chat(spec.peer_id)
        assert spec.peer_id not in world.chat_ids()
    with pytest.raises(RpcError, match="CHANNEL_PRIVATE"):
        history(api, input_peer(world, channel))
    with pytest.raises(RpcError, match="PEER_ID_INVALID"):
        history(api, input_peer(world, group))
    with pytest.raises(RpcError, match="CHANNEL_INVALID"):
        history(api, types.InputPeerChannel(123, 456))
    with pytest.raises(RpcError, match="PEER_ID_INVALID"):
        history(api, types.InputPeerUser(424242, 1))


def test_get_messages_by_id_in_private_chats_and_channels(api, world):
    private = by_title(world, "private:120")
    ids = list(private.ids())[10:13]
    r = api.call(functions.messages.GetMessagesRequest([types.InputMessageID(i) for i in ids]), CTX)
    assert [m.id for m in r.messages] == ids
    assert all(m.peer_id == types.PeerUser(private.raw_id) for m in r.messages)
    channel = by_title(world, "Ten Thousand")
    r = api.call(
        functions.channels.GetMessagesRequest(
            types.InputChannel(channel.raw_id, world.access_hash(channel.raw_id)),
            [types.InputMessageID(5), types.InputMessageID(20_000)],
        ),
        CTX,
    )
    assert r.messages[0].id == 5 and isinstance(r.messages[1], types.MessageEmpty)


def test_deleted_messages_leave_history_threads_and_get_messages():
    """World.delete_messages: the ids are gone from history (count included), from a forum topic's thread and
    from getMessages (messageEmpty), and the dialog's top message is the newest left."""
    world = World.synthetic(4, scale="test")
    api = Api(world)
    api.authorize(KEY)
    channel = by_title(world, "Ten Thousand")
    peer = input_peer(world, channel)
    ids = list(channel.ids())
    world.delete_messages(channel.peer_id, [ids[-1], ids[-3], ids[5]])
    page = history(api, peer, limit=5)
    assert [m.id for m in page.messages] == [ids[-2], ids[-4], ids[-5], ids[-6], ids[-7]]
    assert page.count == len(ids) - 3 and channel.top_id == ids[-2]
    r = api.call(
        functions.channels.GetMessagesRequest(
            types.InputChannel(channel.raw_id, world.access_hash(channel.raw_id)),
            [types.InputMessageID(ids[5]), types.InputMessageID(ids[6])],
        ),
        CTX,
    )
    assert isinstance(r.messages[0], types.MessageEmpty) and r.messages[1].id == ids[6]
    forum = next(world.chats[p] for p in world.chat_ids() if world.chats[p].kind == "forum")
    topic = forum.topics[0].id
    thread = list(world.topic_message_ids(forum, topic))
    world.delete_messages(forum.peer_id, thread[1:2])
    assert list(world.topic_message_ids(forum, topic)) == thread[:1] + thread[2:]


def test_full_entities_and_username(api, world):
    channel = by_title(world, "News Channel")
    inp = types.InputChannel(channel.raw_id, world.access_hash(channel.raw_id))
    full = api.call(functions.channels.GetFullChannelRequest(inp), CTX)
    assert full.full_chat.id == channel.raw_id and full.chats[0].broadcast and full.chats[0].signatures
    chats = api.call(functions.channels.GetChannelsRequest([inp]), CTX)
    assert chats.chats[0].title == "News Channel"
    group = by_title(world, "Family 🏡")
    full = api.call(functions.messages.GetFullChatRequest(group.raw_id), CTX)
    assert {p.user_id for p in full.full_chat.participants.participants} == set(group.members)
    user = api.call(functions.users.GetFullUserRequest(types.InputUserSelf()), CTX)
    assert user.users[0].is_self
    resolved = api.call(functions.contacts.ResolveUsernameRequest("news_channel"), CTX)
    assert resolved.peer == types.PeerChannel(channel.raw_id)
    with pytest.raises(RpcError, match="USERNAME_NOT_OCCUPIED"):
        api.call(functions.contacts.ResolveUsernameRequest("nobody_here"), CTX)
    for r in (full, user, resolved, chats):
        bytes(r)


def test_forum_topics_and_replies_partition_the_forum(api, world):
    forum = by_title(world, "Forum HQ")
    peer = input_peer(world, forum)
    r = api.call(functions.messages.GetForumTopicsRequest(peer, None, 0, 0, 100), CTX)
    assert r.count == 5 and {t.title for t in r.topics} >= {"General", "Announcements"}
    tops = [t.top_message for t in r.topics]
    assert tops == sorted(tops, reverse=True)
    seen: list[int] = []
    for topic in r.topics:
        ids, offset = [], 0
        while True:
            page = api.call(functions.messages.GetRepliesRequest(peer, topic.id, offset, None, 0, 40, 0, 0, 0), CTX)
            assert page.count == len(world.topic_message_ids(forum, topic.id))
            if not page.messages:
                break
            for m in page.messages:
                if topic.id == 1:
                    assert m.reply_to is None or (m.reply_to.reply_to_top_id is None and not m.reply_to.forum_topic)
                elif m.id != topic.id:
                    # Telegram's threading: a plain message names its topic in reply_to_msg_id alone, a reply
                    # inside the topic names the topic in reply_to_top_id.
                    head = m.reply_to
                    assert head.forum_topic and (head.reply_to_top_id or head.reply_to_msg_id) == topic.id
                    assert head.reply_to_top_id is not None or head.reply_to_msg_id == topic.id
                else:
                    assert isinstance(m.action, types.MessageActionTopicCreate) and m.action.title == topic.title
            ids += [m.id for m in page.messages]
            offset = ids[-1]
        assert ids == sorted(ids, reverse=True)
        seen += ids
    assert sorted(seen) == list(range(1, forum.count + 1))
    by_id = api.call(functions.messages.GetForumTopicsByIDRequest(peer, [r.topics[0].id]), CTX)
    assert [t.id for t in by_id.topics] == [r.topics[0].id]
    bytes(r)


def test_search_counters_count_the_chat(api, world):
    spec = by_title(world, "Ten Thousand")
    r = api.call(
        functions.messages.GetSearchCountersRequest(input_peer(world, spec), [types.InputMessagesFilterEmpty()]), CTX
    )
    assert [c.count for c in r] == [10_000]


def first_media(api, world, spec, kind):
    r = history(api, input_peer(world, spec))
    for m in r.messages:
        if isinstance(getattr(m, "media", None), kind):
            return m
    raise AssertionError("no such media in the first page")


def get_file(api, location, offset, limit, precise=False):
    return api.call(functions.upload.GetFileRequest(location, offset, limit, precise=precise or None), CTX)


def test_get_file_exact_bytes_and_telegram_rules(api, world):
    spec = by_title(world, "private:500")
    msg = first_media(api, world, spec, types.MessageMediaDocument)
    doc = msg.media.document
    loc = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")
    data = b""
    while True:
        part = get_file(api, loc, len(data), 128 * 1024).bytes
        data += part
        if len(part) < 128 * 1024:
            break
    assert len(data) == doc.size == world.file_size(doc.id)
    assert hashlib.sha256(data).hexdigest() == world.sha256_of_media(doc.id)
    assert get_file(api, loc, 1024 * 1024 * 64, 4096).bytes == b""  # past the end: empty, as Telegram
    for offset, limit, error in [
        (0, 1000, "LIMIT_INVALID"),
        (0, 3 * 4096, "LIMIT_INVALID"),
        (0, 2 * 1024 * 1024, "LIMIT_INVALID"),
        (100, 4096, "OFFSET_INVALID"),
        (1024 * 1024 - 4096, 8192, "OFFSET_INVALID"),
    ]:
        with pytest.raises(RpcError, match=error):
            get_file(api, loc, offset, limit)
    assert get_file(api, loc, 1024, 2048, precise=True).bytes == data[1024:3072]
    assert api.bytes_of(get_file(api, loc, 0, 4096)) == min(4096, doc.size)


def test_photo_sizes_largest_last_and_downloadable(api, world):
    spec = by_title(world, "private:500")
    photo = first_media(api, world, spec, types.MessageMediaPhoto).media.photo
    sized = [s for s in photo.sizes if isinstance(s, types.PhotoSize)]
    assert [s.size for s in sized] == sorted(s.size for s in sized) and sized[-1].type == "y"
    assert photo.id & 0xF == PHOTO
    loc = types.InputPhotoFileLocation(photo.id, photo.access_hash, photo.file_reference, "y")
    data = get_file(api, loc, 0, 1024 * 1024).bytes
    while len(data) % (1024 * 1024) == 0 and data:
        more = get_file(api, loc, len(data), 1024 * 1024).bytes
        if not more:
            break
        data += more
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG signature, since the mime type says so
    assert hashlib.sha256(data).hexdigest() == world.sha256_of_media(photo.id)
    small = get_file(api, types.InputPhotoFileLocation(photo.id, photo.access_hash, photo.file_reference, "s"), 0, 4096)
    assert len(small.bytes) == sized[0].size


def test_stale_file_reference_and_bad_location():
    world = World.synthetic(3, scale="test")
    api = Api(world)
    api.authorize(KEY)
    spec = by_title(world, "private:500")
    doc = first_media(api, world, spec, types.MessageMediaDocument).media.document
    loc = types.InputDocumentFileLocation(doc.id, doc.access_hash, doc.file_reference, "")
    world.expire_file_references()
    with pytest.raises(RpcError, match="FILE_REFERENCE_EXPIRED"):
        get_file(api, loc, 0, 4096)
    fresh = (
        api.call(
            functions.messages.GetMessagesRequest(
                [
                    types.InputMessageID(
                        next(
                            m.id
                            for m in history(api, input_peer(world, spec)).messages
                            if isinstance(getattr(m, "media", None), types.MessageMediaDocument)
                            and m.media.document.id == doc.id
                        )
                    )
                ]
            ),
            CTX,
        )
        .messages[0]
        .media.document
    )
    loc.file_reference = fresh.file_reference
    assert len(get_file(api, loc, 0, 4096).bytes) == min(4096, doc.size)
    with pytest.raises(RpcError, match="LOCATION_INVALID"):
        get_file(api, types.InputDocumentFileLocation(doc.id, doc.access_hash + 1, fresh.file_reference, ""), 0, 4096)


def test_takeout_session(api, world):
    takeout = api.call(functions.account.InitTakeoutSessionRequest(message_users=True), CTX)
    inside = CallContext(auth_key_id=KEY, conn_id=1, takeout_id=takeout.id, dc_id=2)
    spec = by_title(world, "Ten Thousand")
    assert len(history(api, input_peer(world, spec)).messages) == 100
    assert (
        api.call(functions.messages.GetHistoryRequest(input_peer(world, spec), 0, None, 0, 10, 0, 0, 0), inside)
        .messages[0]
        .id
        == 10_000
    )
    with pytest.raises(RpcError, match="TAKEOUT_INVALID"):
        api.call(functions.updates.GetStateRequest(), CallContext(KEY, 1, takeout.id + 1, 2))
    assert api.call(functions.account.FinishTakeoutSessionRequest(success=True), inside) is True
    with pytest.raises(RpcError, match="TAKEOUT_INVALID"):
        api.call(functions.updates.GetStateRequest(), inside)


def test_login_with_code_and_logout(world):
    api = Api(world)
    ctx = CallContext(auth_key_id=5, conn_id=1, takeout_id=None, dc_id=2)
    with pytest.raises(RpcError, match="PHONE_NUMBER_INVALID"):
        api.call(functions.auth.SendCodeRequest("+10000000000", 1, "hash", types.CodeSettings()), ctx)
    sent = api.call(functions.auth.SendCodeRequest(world.demo_phone, 1, "hash", types.CodeSettings()), ctx)
    with pytest.raises(RpcError, match="PHONE_CODE_INVALID"):
        api.call(functions.auth.SignInRequest(world.demo_phone, sent.phone_code_hash, "00000"), ctx)
    auth = api.call(functions.auth.SignInRequest(world.demo_phone, sent.phone_code_hash, world.demo_code), ctx)
    assert auth.user.id == world.self_user_id and api.is_authorized(5)
    api.call(functions.auth.LogOutRequest(), ctx)
    assert not api.is_authorized(5)


def test_two_factor_login_with_real_srp(world):
    api = Api(world)
    ctx = CallContext(auth_key_id=6, conn_id=1, takeout_id=None, dc_id=2)
    sent = api.call(functions.auth.SendCodeRequest(world.twofa_phone, 1, "hash", types.CodeSettings()), ctx)
    with pytest.raises(RpcError) as e:
        api.call(functions.auth.SignInRequest(world.twofa_phone, sent.phone_code_hash, world.demo_code), ctx)
    assert (e.value.code, e.value.message) == (401, "SESSION_PASSWORD_NEEDED")
    assert not api.is_authorized(6)
    wrong = api.call(functions.account.GetPasswordRequest(), ctx)
    with pytest.raises(RpcError, match="PASSWORD_HASH_INVALID"):
        api.call(functions.auth.CheckPasswordRequest(compute_check(wrong, "not the password")), ctx)
    right = api.call(functions.account.GetPasswordRequest(), ctx)
    auth = api.call(functions.auth.CheckPasswordRequest(compute_check(right, world.twofa_password)), ctx)
    assert auth.user.id == world.self_user_id and api.is_authorized(6)


def test_peer_of_names_the_target(api, world):
    spec = by_title(world, "Ten Thousand")
    req = functions.messages.GetHistoryRequest(input_peer(world, spec), 0, None, 0, 1, 0, 0, 0)
    assert api.peer_of(req) == spec.peer_id
    assert api.peer_of(functions.channels.GetFullChannelRequest(types.InputChannel(spec.raw_id, 1))) == spec.peer_id
    assert api.peer_of(functions.updates.GetStateRequest()) is None
    assert api.bytes_of(types.updates.State(1, 0, None, 1, 0)) == 0


def test_history_page_is_cheap(api, world):
    spec = by_title(world, "Ten Thousand")
    peer = input_peer(world, spec)
    start = time.perf_counter()
    for n in range(20):
        bytes(history(api, peer, offset_id=10_000 - n * 100))
    per_page = (time.perf_counter() - start) / 20
    assert per_page < 0.05, f"a 100-message page took {per_page * 1000:.1f} ms"
