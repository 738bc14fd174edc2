"""The Telegram side of the export over Telethon: dialogs, forum topics, history batches and takeout.

Every request goes through `TelegramSource.call`: timed into the ThrottleDetector, bounded by the adaptive
in-flight limit, wrapped in a timeout with a reconnect (Telethon has none), and every FloodWait decided by
our FloodWaitPolicy and reported as an event (Telethon's own flood sleeping is off).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from telethon import TelegramClient, errors, utils
from telethon.tl import functions, types

from tobs_tui.engine.snapshot import DialogInfo, EventKind, TopicInfo
from tobs_tui.engine.telegram.backoff import BackoffPolicy
from tobs_tui.engine.telegram.concurrency import AdaptiveLimit
from tobs_tui.engine.telegram.entities import dialog_kind, display_name
from tobs_tui.engine.telegram.tlreader import FastReader, LeanReader

log = logging.getLogger(__name__)

HISTORY_LIMIT = 100  # messages.getHistory returns at most 100 a call
_MAX_ATTEMPTS = 5  # timeouts / dropped connections / server errors before a request is given up
_SERVER_ERROR_PAUSE_S = 2.0  # times the attempt: the pause before a request that met a server error goes again
TAKEOUT_ANY_FILE_SIZE = 4 * 1024**3  # Telegram's largest file (Premium), for a takeout without a size cap


class ChatUnavailable(Exception):
    """The chat vanished or our access was revoked; str() is one sentence for the user."""


class ChatParked(Exception):
    """A FloodWait so long that the chat is set aside; a re-run continues it."""

    def __init__(self, seconds: int, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class RequestFailed(Exception):
    """A request kept timing out, losing its connection or meeting server errors; str() is one sentence."""


# Telegram's own failures, not a refusal: 500 (INTERNAL, RPC_CALL_FAIL, ...) and -503 Timeout, which it sends in
# bursts under load (big channels). Telethon retries them request_retries times, then raises the last one
# (build_client sets raise_last_call_error). A client built without that raises a plain ValueError instead,
# recognised by its text, so that it too is one lost attempt rather than an error that ends the whole export.
_SERVER_ERRORS = (errors.ServerError, errors.TimedOutError)
_RETRIES_SPENT = "Request was unsuccessful"


def _server_error_text(e: Exception) -> str:
    return getattr(e, "message", None) or "an internal error"


EmitEvent = Callable[..., None]  # emit(kind, message, *, seconds=None, chat_id=None)


class LoopClock(Protocol):
    """The engine loop's timing (runtime/loop_idle.IdleTimedSelector)."""

    def idle_s(self) -> float: ...

    def recent_busy_s(self) -> float: ...


@dataclass(frozen=True)
class HistoryBatch:
    messages: tuple  # ascending by id, only ids inside the requested range
    entities: dict  # marked peer id -> User/Chat/Channel the reply carried
    count: int | None  # the server's total for the chat, when it said
    exhausted: bool  # nothing newer inside the range
    raw: tuple[bytes, ...] = ()  # the replies' TL bytes, for render workers to decode (_LeanReply)


class _LeanReply:
    """A request whose reply the engine process decodes lean, keeping the reply's TL bytes as `tl_bytes`.

    The render workers decode each message whole from those bytes; this process reads of each `message` only
    what it uses (tlreader.LeanMessage): its entities, reactions and other fields are stepped over, which
    takes about 0.6 of decoding them. The bytes are kept here because Telethon hands a request its reply's
    reader and nothing else sees them."""

    _reader: type[FastReader] = LeanReader
    _keeps_bytes = True

    def read_result(self, reader):
        stream, start = reader.stream, reader.tell_position()
        lean = self._reader(stream)
        lean.position = start
        obj = lean.tgread_object()
        end = reader.position = lean.position
        if self._keeps_bytes:
            obj.tl_bytes = stream if start == 0 and end == len(stream) else bytes(stream[start:end])
        return obj


class _WholeReply(_LeanReply):
    """A request whose reply the engine process decodes whole: for an engine process that renders on its own
    threads (no render workers), which then renders these objects as they are instead of decoding twice. Its
    bytes are not kept: nothing decodes them again."""

    _reader = FastReader
    _keeps_bytes = False


def _kept_bytes(reply: Any) -> tuple[bytes, ...]:
    """The reply's TL bytes for render workers, when it was read lean (see _LeanReply)."""
    kept = getattr(reply, "tl_bytes", None)
    return () if kept is None else (kept,)


def _with_reply(cls: type, reply: type) -> type:
    """`cls` read as `reply` reads, under `cls`'s name (FloodWaits and latency are kept per method name)."""
    return type(cls.__name__, (reply, cls), {"__qualname__": cls.__qualname__, "__module__": cls.__module__})


@dataclass(frozen=True)
class _Requests:
    history: type
    messages_by_id: type
    channel_messages_by_id: type


def _requests(reply: type) -> _Requests:
    return _Requests(
        _with_reply(functions.messages.GetHistoryRequest, reply),
        _with_reply(functions.messages.GetMessagesRequest, reply),
        _with_reply(functions.channels.GetMessagesRequest, reply),
    )


_LEAN, _WHOLE = _requests(_LeanReply), _requests(_WholeReply)


class _Takeout(functions.InvokeWithTakeoutRequest):
    """A request inside a takeout session: its reply read as the request inside would read it."""

    def read_result(self, reader):
        return self.query.read_result(reader)


_Takeout.__name__ = _Takeout.__qualname__ = functions.InvokeWithTakeoutRequest.__name__


def _read_as_wrapped(self, reader):
    """The reply to a wrapped request is the wrapped request's: read as that request reads it."""
    return self.query.read_result(reader)


# Telethon wraps every request of a client that takes no updates (ours) in invokeWithoutUpdates, and reads the
# reply with the wrapper's generic reader instead of the wrapped request's own; this hands it to the request
# inside. For a request that reads its reply generically too (nearly all), the result is the same object.
functions.InvokeWithoutUpdatesRequest.read_result = _read_as_wrapped


_UNAVAILABLE = (
    errors.ChannelPrivateError,
    errors.ChannelInvalidError,
    errors.PeerIdInvalidError,
    errors.ChatAdminRequiredError,
    errors.ChatForbiddenError,
    errors.ChatIdInvalidError,
    errors.UserBannedInChannelError,
)


class TelegramSource:
    """Requests on behalf of the exporter; lives on the engine loop."""

    def __init__(
        self,
        client: TelegramClient,
        *,
        throttle,
        policy: BackoffPolicy,
        limit: AdaptiveLimit,
        timeout_s: float,
        emit: EmitEvent,
        gate: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        loop_clock: LoopClock | None = None,
        whole: bool = False,
    ) -> None:
        """`loop_clock` times the engine loop's waits and turns (runtime/loop_idle.py); without it, every
        latency counts as the server's. `whole`: history replies decoded whole, for rendering in this process
        (without it lean, for render workers, which decode them whole from their bytes)."""
        self.client = client
        self.throttle = throttle
        self.policy = policy
        self.limit = limit
        self.timeout_s = timeout_s
        self._emit = emit
        self._gate = gate
        self._clock = clock
        self._loop_clock = loop_clock
        self._requests = _WHOLE if whole else _LEAN
        self._entities: dict[int, object] = {}
        # Chat -> its newest message id, from the dialog list or messages.getPeerDialogs: a history page that
        # reaches it ends the chat's history without another call (see history_batch).
        self._tops: dict[int, int] = {}
        self.takeout_id: int | None = None
        self.takeout_state = "off"
        self.flood_waits = 0
        self.timeouts = 0
        self.server_errors = 0
        self.requests = 0
        self._reconnect_lock = asyncio.Lock()
        # Method -> when Telegram's last FloodWait on it ends (time.monotonic, as asyncio.sleep counts). Telegram
        # limits each method per account, not per chat: a request of any chat sent before then earns its own.
        self._flood_until: dict[str, float] = {}
        # After a FloodWait runs out, one request of its method goes first and the rest follow its reply: the
        # requests held by the wait would otherwise all go at once into a bucket that holds a few tokens.
        self._reopen: set[str] = set()  # methods whose next request is that first one
        self._trial: dict[str, asyncio.Future[None]] = {}  # method -> its first request, while out

    # -- the one door every request goes through --------------------------------------------------
    async def call(
        self,
        request,
        *,
        chat_id: int | None = None,
        takeout: bool = True,
        part_slot=None,
        dc_id: int | None = None,
        priority: int = 0,
    ):
        """`part_slot` marks a media part: it holds that slot (the media parts cap) instead of the request limit,
        and its latency, which is transfer time at the connection's bandwidth cap rather than round-trip time,
        is kept out of the ThrottleDetector, where it would read as throttling; its FloodWaits leave the request
        limit alone too (Telegram counts getFile apart from history). `dc_id` names the data center
        that stores a file, when it is not ours."""
        method = type(request).__name__
        attempts = 0
        floods = 0
        server_error: Exception | None = None  # the last attempt's, when a server error lost it
        while True:
            if self._gate is not None:
                await self._gate()
            await self._after_flood(method)
            wire = request
            if takeout and self.takeout_id is not None:
                wire = _Takeout(self.takeout_id, request)
            async with self.limit.slot(priority) if part_slot is None else part_slot:
                if self._flood_left(method) > 0 or method in self._trial:
                    continue  # a FloodWait came back while this request waited for its slot: wait it out first
                trial = self._start_trial(method)
                started = self._clock()
                idle = self._loop_clock.idle_s() if self._loop_clock is not None else 0.0
                in_flight = self.limit.in_flight
                try:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as the
                    # reply lands, and a cancelled export would then fetch on and hang on a full queue.
                    async with asyncio.timeout(self.timeout_s):
                        result = await self._send(wire, dc_id)
                except TimeoutError:
                    flood = None
                    self.timeouts += 1
                    attempts += 1
                    server_error = None
                    self._emit(
                        EventKind.INFO,
                        f"No reply to {method} within {self.timeout_s:g} s; reconnecting and retrying.",
                        chat_id=chat_id,
                    )
                    lost = True
                except ConnectionError:
                    flood = None
                    attempts += 1
                    server_error = None
                    lost = True
                except (*_SERVER_ERRORS, ValueError) as e:
                    if isinstance(e, ValueError) and not str(e).startswith(_RETRIES_SPENT):
                        raise
                    flood = None
                    self.server_errors += 1
                    attempts += 1
                    server_error = e
                    lost = True
                except (errors.TakeoutInvalidError, errors.TakeoutRequiredError) as e:
                    if wire is request:
                        raise
                    # The session ended under the export (the person cancelled it in another app, another
                    # export replaced it): the rest goes out as normal requests, this one again at once.
                    self._takeout_ended(e)
                    continue
                except (errors.FloodWaitError, errors.FloodPremiumWaitError) as e:
                    if part_slot is None:
                        self._record_latency(started, idle, in_flight, method)
                    flood = e
                    lost = False
                else:
                    self.requests += 1
                    if part_slot is None:
                        self._record_latency(started, idle, in_flight, method)
                        self.limit.on_success(throttled=self.throttle.is_throttled())
                    return result
                finally:
                    if trial is not None:
                        # Set before this task next yields: a FloodWait on it is on record when the rest wake.
                        del self._trial[method]
                        trial.set_result(None)
            if lost:
                if attempts >= _MAX_ATTEMPTS and server_error is not None:
                    raise RequestFailed(
                        f"Telegram kept failing {method} with a server error ({_server_error_text(server_error)}) "
                        f"after {attempts} tries; run the export again later to continue."
                    )
                if attempts >= _MAX_ATTEMPTS:
                    raise RequestFailed(
                        f"Telegram did not answer {method} after {attempts} tries; check the "
                        "connection and run the export again to continue."
                    )
                if server_error is None:
                    await self._reconnect()
                    continue
                # The connection is fine (the server answered): no reconnect, but a pause that grows, as a burst
                # of server errors usually passes within seconds and an at-once retry meets the same trouble.
                pause = _SERVER_ERROR_PAUSE_S * attempts
                self._emit(
                    EventKind.INFO,
                    f"Telegram failed {method} with a server error ({_server_error_text(server_error)}); "
                    f"retrying in {pause:g} s.",
                    chat_id=chat_id,
                )
                await asyncio.sleep(pause)
                continue
            assert flood is not None  # not lost: the only other way out of the try is a FloodWait
            self.flood_waits += 1
            floods += 1
            if part_slot is None:  # a media part's FloodWait paces media (its own cap), not history requests
                self.limit.on_flood()
            premium = isinstance(flood, errors.FloodPremiumWaitError)
            decision = self.policy.decide(
                flood.seconds, throttled=self.throttle.is_throttled(), premium=premium, consecutive=floods - 1
            )
            if decision.action == "give_up":
                raise ChatParked(flood.seconds, decision.reason)
            self._emit(
                EventKind.FLOOD_WAIT,
                f"Telegram asked for a {flood.seconds} s pause on {method}; "
                f"waiting {decision.wait_s:g} s ({decision.reason}).",
                seconds=decision.wait_s,
                chat_id=chat_id,
            )
            until = time.monotonic() + decision.wait_s
            self._flood_until[method] = max(self._flood_until.get(method, 0.0), until)
            self._reopen.add(method)
            await asyncio.sleep(decision.wait_s)

    async def _after_flood(self, method: str) -> None:
        """Hold a request until a FloodWait on its method has run out (another chat's request may have earned
        it): one FloodWait per episode, where every request in the queue would otherwise earn its own."""
        while True:
            if (wait := self._flood_left(method)) > 0:
                await asyncio.sleep(wait)
            elif (trial := self._trial.get(method)) is not None:
                await asyncio.wait([trial])  # not `await trial`: a cancel here must not cancel the trial
            else:
                return

    def _start_trial(self, method: str) -> asyncio.Future[None] | None:
        """The first request after a FloodWait on `method` ran out becomes its trial (see _after_flood)."""
        if method not in self._reopen:
            return None
        self._reopen.discard(method)
        trial = self._trial[method] = asyncio.get_running_loop().create_future()
        return trial

    def _flood_left(self, method: str) -> float:
        """Seconds until the last FloodWait on `method` ends (0 or less: none is running)."""
        return self._flood_until.get(method, 0.0) - time.monotonic()

    def _record_latency(self, started: float, idle: float, in_flight: int, method: str) -> None:
        latency = self._clock() - started
        local = 0.0
        if self._loop_clock is not None:
            # The server's share is at least the time the loop idled during the round trip (nothing of ours was
            # ready to run, so the reply had not arrived), and at least the latency less what the loop's latest
            # turns spent busy (a reply reaches its task within those turns of arriving). The rest is ours.
            waited = self._loop_clock.idle_s() - idle
            server = max(waited, latency - self._loop_clock.recent_busy_s())
            local = max(0.0, latency - server)
        change = self.throttle.record(latency, method, local_s=local, in_flight=in_flight)
        if self.limit.slow_start and self.throttle.rising():
            self.limit.end_slow_start()  # the server is slowing: grow by one per window from here
        # A rise seen with several requests in flight is tried with half as many before it counts as throttling.
        if change == "probe_start":
            self.limit.probe()
        elif change == "probe_refuted":
            self.limit.end_probe(restore=True)
        elif change == "throttle_start":
            self.limit.end_probe(restore=False)

    async def _send(self, wire, dc_id: int | None):
        if dc_id is None or dc_id == self.client.session.dc_id:
            return await self.client(wire)
        # Files live on the DC that stores them; Telethon keeps one authorised connection per DC for them.
        sender = await self.client._borrow_exported_sender(dc_id)
        try:
            return await self.client._call(sender, wire)
        finally:
            await self.client._return_exported_sender(sender)

    async def _reconnect(self) -> None:
        """Start a fresh connection; Telethon re-sends the requests other tasks still have in flight."""
        async with self._reconnect_lock:
            sender = self.client._sender
            # The public disconnect()/connect() would cancel every other chat's in-flight request; the
            # sender's own reconnect keeps them and re-sends them on the new connection.
            if self.client.is_connected() and not sender._reconnecting:
                sender._start_reconnect(None)
            elif not self.client.is_connected():
                await self.client.connect()
            await asyncio.sleep(0)

    # -- dialogs and topics -----------------------------------------------------------------------
    async def dialogs(self) -> list[DialogInfo]:
        result: list[DialogInfo] = []
        seen: set[int] = set()
        offset_date, offset_id, offset_peer = None, 0, types.InputPeerEmpty()
        while True:
            r = await self.call(
                functions.messages.GetDialogsRequest(
                    offset_date=offset_date, offset_id=offset_id, offset_peer=offset_peer, limit=100, hash=0
                )
            )
            entities = {utils.get_peer_id(e): e for e in (*r.users, *r.chats)}
            self._entities.update(entities)
            messages = {(utils.get_peer_id(m.peer_id), m.id): m for m in r.messages}
            new = 0
            last = None
            for d in r.dialogs:
                pid = utils.get_peer_id(d.peer)
                last = d
                self._tops[pid] = d.top_message
                if pid in seen or pid not in entities:
                    continue
                seen.add(pid)
                new += 1
                entity = entities[pid]
                if isinstance(entity, (types.ChatForbidden, types.ChannelForbidden)):
                    continue
                result.append(
                    DialogInfo(
                        chat_id=pid,
                        kind=dialog_kind(entity),
                        title=display_name(entity),
                        username=getattr(entity, "username", None),
                        top_message_id=d.top_message,
                        unread=d.unread_count,
                        is_forum=bool(getattr(entity, "forum", False)),
                        first_name=(entity.first_name or "") if isinstance(entity, types.User) else None,
                        is_self=bool(getattr(entity, "is_self", False)),
                    )
                )
            if isinstance(r, types.messages.Dialogs) or not r.dialogs or new == 0 or last is None:
                return result
            # The next page starts after the last dialog whose top message (and chat) the reply carried, as
            # Telethon pages: a dialog without one (its newest message deleted) gives no date to page by.
            after = next(
                (
                    (d, top)
                    for d in reversed(r.dialogs)
                    if (top := messages.get((utils.get_peer_id(d.peer), d.top_message))) is not None
                    and utils.get_peer_id(d.peer) in entities
                ),
                None,
            )
            if after is None:
                return result
            offset_id, offset_date = after[0].top_message, after[1].date
            offset_peer = utils.get_input_peer(entities[utils.get_peer_id(after[0].peer)])

    async def tops(self, chat_ids: list[int]) -> dict[int, int]:
        """Each chat's newest message id now, by messages.getPeerDialogs (100 chats a call). A chat that vanished
        fails its whole call, as would a long FloodWait or no answer: those chats keep the ids they had."""
        known = [c for c in chat_ids if c in self._entities]
        tops: dict[int, int] = {}
        for i in range(0, len(known), 100):
            peers = [types.InputDialogPeer(self.input_peer(c)) for c in known[i : i + 100]]
            try:
                r = await self.call(functions.messages.GetPeerDialogsRequest(peers=peers))
            except (errors.RPCError, ChatParked, RequestFailed):
                continue  # the ids from the list stand; each chat's own requests meet whatever this was
            for d in r.dialogs:
                if isinstance(d, types.Dialog):
                    tops[utils.get_peer_id(d.peer)] = d.top_message
        self._tops.update(tops)
        return tops

    def entity(self, chat_id: int):
        return self._entities.get(chat_id)

    def input_peer(self, chat_id: int):
        entity = self._entities.get(chat_id)
        if entity is None:
            raise ChatUnavailable(
                f"Chat {chat_id} is not in your dialog list any more; it may have been deleted or you may have left it."
            )
        return utils.get_input_peer(entity)

    async def topics(self, chat_id: int) -> list[TopicInfo]:
        peer = self.input_peer(chat_id)
        out: list[TopicInfo] = []
        seen: set[int] = set()
        offset_date, offset_id, offset_topic = None, 0, 0
        while True:
            try:
                r = await self.call(
                    functions.messages.GetForumTopicsRequest(
                        peer=peer, offset_date=offset_date, offset_id=offset_id, offset_topic=offset_topic, limit=100
                    ),
                    chat_id=chat_id,
                )
            except _UNAVAILABLE as e:
                raise ChatUnavailable(self._unavailable_sentence(chat_id, e)) from None
            # A deleted topic (forumTopicDeleted) still takes its place in a page: a page of only those is not
            # the end, only a page that brings no topic id not seen yet is.
            fresh = [t for t in r.topics if t.id not in seen]
            seen.update(t.id for t in fresh)
            for t in fresh:
                if isinstance(t, types.ForumTopic):
                    out.append(TopicInfo(topic_id=t.id, title=t.title, top_message_id=t.top_message))
            if not fresh or len(out) >= r.count:
                return sorted(out, key=lambda t: t.topic_id)
            offset_topic, offset_id, offset_date = self._next_topics_offset(r, (offset_topic, offset_id, offset_date))

    @staticmethod
    def _next_topics_offset(r, current: tuple[int, int, Any]) -> tuple[int, int, Any]:
        """The offset after a page of messages.getForumTopics, as TDLib pages: from its last topic, dated by
        that topic's top message (the order Telegram sorts by: last activity), or by its creation when the
        reply says it is sorted by creation. A page of deleted topics only carries their ids."""
        last = next((t for t in reversed(r.topics) if isinstance(t, types.ForumTopic)), None)
        if last is None:
            return r.topics[-1].id, current[1], current[2]
        if r.order_by_create_date:
            return last.id, last.top_message, last.date
        top = next(
            (m for m in r.messages if m.id == last.top_message and not isinstance(m, types.MessageEmpty)),
            None,
        )
        return last.id, last.top_message, top.date if top is not None else last.date

    async def message_count(self, chat_id: int) -> int | None:
        """How many messages a chat holds, by one history call for a single message (the reply carries the
        total); None when the chat cannot be read now."""
        return await self._count(functions.messages.GetHistoryRequest, chat_id)

    async def topic_count(self, chat_id: int, topic_id: int) -> int | None:
        """How many messages a forum topic holds, by one thread call for a single message (the reply carries the
        thread's total); None when it cannot be read now."""
        return await self._count(functions.messages.GetRepliesRequest, chat_id, msg_id=topic_id)

    async def _count(self, request_type, chat_id: int, **which: int) -> int | None:
        try:
            r = await self.call(
                request_type(
                    peer=self.input_peer(chat_id),
                    **which,
                    offset_id=0,
                    offset_date=None,
                    add_offset=0,
                    limit=1,
                    max_id=0,
                    min_id=0,
                    hash=0,
                ),
                chat_id=chat_id,
            )
        except (errors.RPCError, ChatParked, RequestFailed, ChatUnavailable):
            return None
        return int(getattr(r, "count", len(r.messages)))

    # -- history ----------------------------------------------------------------------------------
    async def history_batch(
        self, chat_id: int, *, after: int, before: int | None = None, limit: int = HISTORY_LIMIT, priority: int = 0
    ) -> HistoryBatch:
        """The oldest `limit` messages with after < id (< before), ascending, with the entities they carry.

        Like Telethon's reverse iteration: offset_id = after + 1 with add_offset = -limit asks for the window
        just above `after`; min_id/max_id stay 0 (Telegram misbehaves with them) and the range is cut here.
        """
        peer = self.input_peer(chat_id)
        try:
            r = await self.call(
                self._requests.history(
                    peer=peer,
                    offset_id=after + 1,
                    offset_date=None,
                    add_offset=-limit,
                    limit=limit,
                    max_id=0,
                    min_id=0,
                    hash=0,
                ),
                chat_id=chat_id,
                priority=priority,
            )
        except _UNAVAILABLE as e:
            raise ChatUnavailable(self._unavailable_sentence(chat_id, e)) from None
        entities = {utils.get_peer_id(e): e for e in (*r.users, *r.chats)}
        msgs = sorted((m for m in r.messages if not isinstance(m, types.MessageEmpty)), key=lambda m: m.id)
        newest = msgs[-1].id if msgs else after
        inside = tuple(m for m in msgs if m.id > after and (before is None or m.id < before))
        # A page shorter than asked for does not end the range: Telegram leaves out messages withheld in the
        # user's country, or deleted while it answered, and the page then comes back short mid-history (Telethon
        # warns of the same). The range ends on an empty page, at its upper end, or at the chat's newest id
        # from the dialog list (so the chat's last page needs no empty call after it); a messages.messages
        # reply is the whole history at once.
        top = self._tops.get(chat_id, 0)
        exhausted = (
            not inside
            or isinstance(r, types.messages.Messages)
            or (before is not None and newest >= before - 1)
            or 0 < top <= newest
        )
        return HistoryBatch(
            messages=inside,
            entities=entities,
            count=getattr(r, "count", None),
            exhausted=exhausted,
            raw=_kept_bytes(r),
        )

    async def messages_by_id(self, chat_id: int, ids: list[int]) -> HistoryBatch:
        """Up to 100 messages by id, ascending, with the entities they carry (ids that no longer exist are
        left out): what a repair of a note or JSONL fetches again."""
        entity = self._entities.get(chat_id)
        wanted = [types.InputMessageID(i) for i in ids]
        if isinstance(entity, types.Channel):
            request: Any = self._requests.channel_messages_by_id(utils.get_input_channel(entity), wanted)
        else:
            request = self._requests.messages_by_id(wanted)
        try:
            r = await self.call(request, chat_id=chat_id)
        except _UNAVAILABLE as e:
            raise ChatUnavailable(self._unavailable_sentence(chat_id, e)) from None
        entities = {utils.get_peer_id(e): e for e in (*r.users, *r.chats)}
        asked = set(ids)
        # Private chats and basic groups share one id space: messages.getMessages answers with whichever of the
        # account's chats holds an id, so only this chat's are kept.
        msgs = sorted(
            (
                m
                for m in r.messages
                if not isinstance(m, types.MessageEmpty)
                and m.id in asked
                and (isinstance(entity, types.Channel) or utils.get_peer_id(m.peer_id) == chat_id)
            ),
            key=lambda m: m.id,
        )
        return HistoryBatch(messages=tuple(msgs), entities=entities, count=None, exhausted=True, raw=_kept_bytes(r))

    async def resolve_users(self, ids: list[int]) -> dict[int, object]:
        """The SenderPreloader's one batched network call for senders a batch did not carry."""
        inputs = []
        for pid in ids:
            entity = self._entities.get(pid)
            if isinstance(entity, types.User) and entity.access_hash is not None:
                inputs.append(types.InputUser(entity.id, entity.access_hash))
        if not inputs:
            return {}
        users = await self.call(functions.users.GetUsersRequest(inputs))
        return {utils.get_peer_id(u): u for u in users if not isinstance(u, types.UserEmpty)}

    def remember(self, entities: dict) -> None:
        self._entities.update(entities)

    def _unavailable_sentence(self, chat_id: int, e: Exception) -> str:
        title = display_name(self._entities[chat_id]) if chat_id in self._entities else str(chat_id)
        log.info("Chat %s unavailable: %s", chat_id, type(e).__name__)
        return f"Chat \"{title}\" can no longer be read: it was deleted or your access was revoked, so it was skipped."

    # -- takeout -----------------------------------------------------------------------------------
    async def start_takeout(self, *, files: bool, file_max_size: int | None) -> str:
        """Try to open a takeout session; returns the state "active", "pending" or "refused"."""
        try:
            r = await self.call(
                functions.account.InitTakeoutSessionRequest(
                    message_users=True,
                    message_chats=True,
                    message_megagroups=True,
                    message_channels=True,
                    # Telethon refuses files without a size cap; no limit set means the largest file Telegram holds.
                    files=files or None,
                    file_max_size=(file_max_size or TAKEOUT_ANY_FILE_SIZE) if files else None,
                ),
                takeout=False,
            )
        except errors.TakeoutInitDelayError as e:
            self.takeout_state = "pending"
            self._emit(
                EventKind.TAKEOUT_PENDING,
                "Takeout is pending: approve it in Telegram (Settings > "
                f"Privacy > Data export) or wait {e.seconds} s; exporting with normal requests meanwhile.",
                seconds=float(e.seconds),
            )
            return self.takeout_state
        except errors.RPCError as e:
            self.takeout_state = "refused"
            self._emit(
                EventKind.TAKEOUT_REFUSED,
                f"Telegram refused the takeout session ({e.message}); exporting with normal requests.",
            )
            return self.takeout_state
        self.takeout_id = r.id
        self.takeout_state = "active"
        self._emit(EventKind.INFO, "Takeout session active: Telegram allows a faster export.")
        return self.takeout_state

    def _takeout_ended(self, error: errors.RPCError) -> None:
        if self.takeout_id is None:
            return  # another request met the same end first
        self.takeout_id = None
        self.takeout_state = "ended"
        self._emit(
            EventKind.INFO,
            f"Telegram ended the takeout session ({error.message}); exporting the rest with normal requests.",
        )

    async def finish_takeout(self, *, success: bool) -> None:
        if self.takeout_id is None:
            return
        try:
            await self.call(functions.account.FinishTakeoutSessionRequest(success=success))
        except errors.RPCError as e:
            log.warning("Finishing the takeout session failed: %s", e.message)
        finally:
            self.takeout_id = None
            self.takeout_state = "off"
