"""TelegramSource against crafted replies, as real Telegram sends them: a burst of server errors is retried and
never escapes as anything but RequestFailed, a short history page mid-history does not end it, and forum topics
page by their top message's date and past a page of deleted topics."""

from __future__ import annotations

import datetime

import pytest
from telethon import errors
from telethon.tl import functions, types

import tobs_tui.engine.telegram.source as source_module
from tobs_tui.engine.telegram.backoff import FloodWaitPolicy
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit
from tobs_tui.engine.telegram.source import RequestFailed, TelegramSource
from tobs_tui.engine.telegram.throttle import ThrottleDetector

CHANNEL = types.Channel(
    id=777, title="c", photo=types.ChatPhotoEmpty(), date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
)
CHANNEL.access_hash, CHANNEL.forum = 1, True
CHAT_ID = -1000000000777
T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def at(minutes: int) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def message(i: int) -> types.Message:
    return types.Message(id=i, peer_id=types.PeerChannel(777), date=at(i), message=str(i))


class Client:
    """Answers each request with `answer(request)`: a reply, or an exception to raise."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list = []

    async def __call__(self, request):
        self.requests.append(request)
        result = self.answer(request)
        if isinstance(result, BaseException):
            raise result
        return result


def make_source(client: Client, events: list | None = None) -> TelegramSource:
    source = TelegramSource(
        client,  # type: ignore[arg-type]
        throttle=ThrottleDetector(),
        policy=FloodWaitPolicy(),
        limit=AdaptiveLimit(4),
        timeout_s=10,
        emit=(lambda *a, **k: events.append(a[1])) if events is not None else (lambda *a, **k: None),
    )
    source.remember({CHAT_ID: CHANNEL})
    return source


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(source_module, "_SERVER_ERROR_PAUSE_S", 0.0, raising=False)


# -- server errors ------------------------------------------------------------------------------------
SERVER_ERRORS = [
    errors.ServerError(None, "INTERNAL", 500),
    errors.RpcCallFailError(None),
    errors.TimedOutError(None, "Timeout", -503),
    ValueError("Request was unsuccessful 4 time(s)"),  # Telethon's, from a client without raise_last_call_error
]


@pytest.mark.parametrize("error", SERVER_ERRORS, ids=lambda e: type(e).__name__)
async def test_server_errors_are_retried_like_a_lost_reply(error):
    left = [error] * 4
    client = Client(lambda r: left.pop() if left else "ok")
    events: list[str] = []
    source = make_source(client, events)
    assert await source.call(functions.help.GetConfigRequest()) == "ok"
    assert len(client.requests) == 5 and source.server_errors == 4
    assert sum("server error" in e for e in events) == 4


@pytest.mark.parametrize("error", SERVER_ERRORS, ids=lambda e: type(e).__name__)
async def test_a_server_error_that_lasts_is_request_failed_with_a_sentence(error):
    client = Client(lambda r: error)
    with pytest.raises(RequestFailed) as caught:
        await make_source(client).call(functions.help.GetConfigRequest())
    assert len(client.requests) == source_module._MAX_ATTEMPTS
    text = str(caught.value)
    assert text.startswith("Telegram kept failing GetConfigRequest with a server error") and text.endswith(".")


async def test_another_value_error_is_not_taken_for_a_server_error():
    client = Client(lambda r: ValueError("something else"))
    with pytest.raises(ValueError, match="something else"):
        await make_source(client).call(functions.help.GetConfigRequest())
    assert len(client.requests) == 1


# -- history pages ------------------------------------------------------------------------------------
def history_page(request, withheld=frozenset(), last=500):
    lo = request.offset_id
    ids = [i for i in range(lo, min(lo + 100, last + 1)) if i not in withheld]
    return types.messages.ChannelMessages(
        pts=1, count=last, messages=[message(i) for i in reversed(ids)], topics=[], chats=[CHANNEL], users=[]
    )


async def test_a_short_page_mid_history_does_not_end_it():
    source = make_source(Client(lambda r: history_page(r, withheld={10, 20, 30})))
    batch = await source.history_batch(CHAT_ID, after=0)
    assert len(batch.messages) == 97 and batch.messages[-1].id == 100
    assert not batch.exhausted


async def test_the_page_that_reaches_the_chats_newest_id_ends_it_without_an_empty_call():
    source = make_source(Client(lambda r: history_page(r, last=450)))
    source._tops[CHAT_ID] = 450  # as the dialog list or getPeerDialogs says
    batch = await source.history_batch(CHAT_ID, after=400)
    assert batch.messages[-1].id == 450 and batch.exhausted
    # Without the newest id known, a short page is not taken for the end; an empty one is.
    source._tops.clear()
    assert not (await source.history_batch(CHAT_ID, after=400)).exhausted
    assert (await source.history_batch(CHAT_ID, after=450)).exhausted


async def test_a_bounded_range_ends_at_its_upper_end():
    source = make_source(Client(lambda r: history_page(r, withheld={150})))
    batch = await source.history_batch(CHAT_ID, after=100, before=201)
    assert batch.messages[-1].id == 200 and batch.exhausted


# -- forum topics ---------------------------------------------------------------------------------------
def topic(tid: int, top: int) -> types.ForumTopic:
    return types.ForumTopic(
        tid, at(tid), types.PeerChannel(777), f"t{tid}", 0, top, top, top, 0, 0, 0, 0,
        types.PeerUser(1), types.PeerNotifySettings(),
    )  # fmt: skip


def topics_reply(entries, *, count, by_creation=False):
    tops = [message(t.top_message) for t in entries if isinstance(t, types.ForumTopic)]
    return types.messages.ForumTopics(count, entries, tops, [CHANNEL], [], pts=1, order_by_create_date=by_creation)


@pytest.mark.parametrize("by_creation", [False, True])
async def test_topics_page_by_their_top_messages_date_past_a_page_of_deleted_topics(by_creation):
    # Topic t's top message is 1000 + t (newer than its creation at t): most recently active first.
    live = [topic(t, 1000 + t) for t in range(300, 100, -1)]  # 200 topics
    pages = [
        topics_reply(live[:100], count=200, by_creation=by_creation),
        topics_reply([types.ForumTopicDeleted(id=i) for i in range(99, 49, -1)], count=200, by_creation=by_creation),
        topics_reply(live[100:], count=200, by_creation=by_creation),
    ]
    client = Client(lambda r: pages.pop(0))
    got = await make_source(client).topics(CHAT_ID)
    assert [t.topic_id for t in got] == list(range(101, 301))
    second, third = client.requests[1], client.requests[2]
    # From the last live topic (201, top message 1201): its top message's date unless sorted by creation.
    assert (second.offset_topic, second.offset_id) == (201, 1201)
    assert second.offset_date == (at(201) if by_creation else at(1201))
    # After a page of deleted topics only, paging goes on past them.
    assert (third.offset_topic, third.offset_id, third.offset_date) == (50, 1201, second.offset_date)


def channel(i: int) -> types.Channel:
    c = types.Channel(id=i, title=f"c{i}", photo=types.ChatPhotoEmpty(), date=T0)
    c.access_hash = i
    return c


def dialog(i: int) -> types.Dialog:
    return types.Dialog(
        peer=types.PeerChannel(i),
        top_message=i,
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        unread_mentions_count=0,
        unread_reactions_count=0,
        unread_poll_votes_count=0,
        notify_settings=types.PeerNotifySettings(),
    )


async def test_dialogs_page_after_the_last_dialog_whose_top_message_came_with_the_page():
    # Dialogs 1..100 on the first page, the last one's top message missing (deleted since): the next page starts
    # after dialog 99, by its message's date, as Telethon pages; 101 and 102 come on it.
    def answer(request):
        if request.offset_id == 0:
            ids = range(1, 101)
            msgs = [types.Message(id=i, peer_id=types.PeerChannel(i), date=at(1000 - i), message="") for i in ids[:-1]]
        else:
            ids, msgs = (
                range(101, 103),
                [
                    types.Message(id=i, peer_id=types.PeerChannel(i), date=at(1000 - i), message="")
                    for i in range(101, 103)
                ],
            )
        return types.messages.DialogsSlice(
            count=102, dialogs=[dialog(i) for i in ids], messages=msgs, chats=[channel(i) for i in ids], users=[]
        )

    client = Client(answer)
    found = await make_source(client).dialogs()
    assert [d.chat_id for d in found] == [-(1000000000000 + i) for i in range(1, 103)]
    second = client.requests[1]
    assert (second.offset_id, second.offset_date, second.offset_peer.channel_id) == (99, at(1000 - 99), 99)
