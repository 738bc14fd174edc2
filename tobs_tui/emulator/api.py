"""The emulator's method handlers: a Telethon request object in, a TL result out (or an RpcError).

Handlers are synchronous and never sleep; the server applies latency, rate limits and faults around them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telethon.tl import functions, types

from .errors import RpcError
from .specs import CHANNEL_MARK, DC_ID, SELF_USER_ID, ChatSpec, as_datetime, mix, timestamp_of
from .srp import SrpVerifier
from .world import World

_MIB = 1024 * 1024
# How long a file reference fetched again after a random expiry stays good (Telegram's last for hours; a minute
# covers any download here, so a file never meets a random expiry twice in a row).
REFERENCE_GRACE_S = 60.0
# Methods an unauthorised key may call (everything else answers 401 AUTH_KEY_UNREGISTERED).
_LOGIN_METHODS = (
    functions.help.GetConfigRequest,
    functions.help.GetNearestDcRequest,
    functions.auth.SendCodeRequest,
    functions.auth.SignInRequest,
    functions.account.GetPasswordRequest,
    functions.auth.CheckPasswordRequest,
    functions.auth.LogOutRequest,
    functions.auth.ImportAuthorizationRequest,
    functions.auth.ExportLoginTokenRequest,
    functions.auth.ImportLoginTokenRequest,
)
# How long a QR login token stays good (Telegram's last 30 s).
LOGIN_TOKEN_TTL_S = 30


@dataclass
class CallContext:
    """Where a request came from; the server fills it per request."""

    auth_key_id: int
    conn_id: int
    takeout_id: int | None
    dc_id: int
    host: str = "127.0.0.1"
    port: int = 0


def _now() -> datetime:
    return datetime.now(tz=UTC)


class Api:
    """Answers Telethon's requests from a World; login state is kept per auth key."""

    def __init__(self, world: World):
        self.world = world
        self._authorized: set[int] = set()
        self._code_sent: dict[int, tuple[str, str]] = {}  # auth_key_id -> (phone, phone_code_hash)
        self._awaiting_password: set[int] = set()
        self._takeouts: dict[int, int] = {}  # takeout id -> auth_key_id
        self._srp: SrpVerifier | None = None
        self._random_expiries: dict[int, float] = {}  # media id -> when a random fault expired its reference
        # Every DC the emulator serves, (id, host, port), the account's own first; set when they listen.
        self.dcs: list[tuple[int, str, int]] = []
        self._exported: dict[bytes, int] = {}  # auth.exportAuthorization bytes -> the DC they are for
        # QR login: token -> [the waiting key id, when it expires (time.time()), the phone that accepted it or ""]
        self._login_tokens: dict[bytes, list[Any]] = {}
        # An accepted QR login asked for on another DC than the account's: the token to import there -> (its DC, phone).
        self._import_tokens: dict[bytes, tuple[int, str]] = {}
        self._phones: dict[int, str] = {}  # auth key id -> the phone it logged in with
        # (auth key id, update) the server pushes to that key's connections after the call that made them.
        self.pending_updates: list[tuple[int, Any]] = []
        self._handlers: dict[type, Callable[[Any, CallContext], Any]] = {
            functions.help.GetConfigRequest: self._get_config,
            functions.help.GetNearestDcRequest: self._get_nearest_dc,
            functions.users.GetUsersRequest: self._get_users,
            functions.users.GetFullUserRequest: self._get_full_user,
            functions.updates.GetStateRequest: self._get_state,
            functions.updates.GetDifferenceRequest: self._get_difference,
            functions.updates.GetChannelDifferenceRequest: self._get_channel_difference,
            functions.messages.GetDialogsRequest: self._get_dialogs,
            functions.messages.GetPeerDialogsRequest: self._get_peer_dialogs,
            functions.messages.GetHistoryRequest: self._get_history,
            functions.messages.GetMessagesRequest: self._get_messages,
            functions.channels.GetMessagesRequest: self._get_channel_messages,
            functions.channels.GetChannelsRequest: self._get_channels,
            functions.messages.GetChatsRequest: self._get_chats,
            functions.channels.GetFullChannelRequest: self._get_full_channel,
            functions.messages.GetFullChatRequest: self._get_full_chat,
            functions.messages.GetForumTopicsRequest: self._get_forum_topics,
            functions.messages.GetForumTopicsByIDRequest: self._get_forum_topics_by_id,
            functions.messages.GetRepliesRequest: self._get_replies,
            functions.messages.GetSearchCountersRequest: self._get_search_counters,
            functions.contacts.ResolveUsernameRequest: self._resolve_username,
            functions.upload.GetFileRequest: self._get_file,
            functions.account.InitTakeoutSessionRequest: self._init_takeout,
            functions.account.FinishTakeoutSessionRequest: self._finish_takeout,
            functions.auth.SendCodeRequest: self._send_code,
            functions.auth.SignInRequest: self._sign_in,
            functions.account.GetPasswordRequest: self._get_password,
            functions.auth.CheckPasswordRequest: self._check_password,
            functions.auth.LogOutRequest: self._log_out,
            functions.auth.ExportAuthorizationRequest: self._export_authorization,
            functions.auth.ImportAuthorizationRequest: self._import_authorization,
            functions.auth.ExportLoginTokenRequest: self._export_login_token,
            functions.auth.AcceptLoginTokenRequest: self._accept_login_token,
            functions.auth.ImportLoginTokenRequest: self._import_login_token,
        }

    # ----------------------------------------------------------------- the seam the server calls
    def is_authorized(self, auth_key_id: int) -> bool:
        return auth_key_id in self._authorized

    def authorize(self, auth_key_id: int) -> None:
        self._authorized.add(auth_key_id)

    def call(self, request: Any, ctx: CallContext) -> Any:
        handler = self._handlers.get(type(request))
        if handler is None:
            raise RpcError(400, "METHOD_NOT_SUPPORTED")
        if ctx.auth_key_id not in self._authorized and not isinstance(request, _LOGIN_METHODS):
            raise RpcError(401, "AUTH_KEY_UNREGISTERED")
        if ctx.takeout_id is not None and self._takeouts.get(ctx.takeout_id) != ctx.auth_key_id:
            raise RpcError(400, "TAKEOUT_INVALID")
        return handler(request, ctx)

    def peer_of(self, request: Any) -> int | None:
        """The marked peer id a request targets, for per-peer faults and the request log."""
        for name in ("peer", "channel", "chat_id"):
            value = getattr(request, name, None)
            if value is None:
                continue
            if name == "chat_id" and isinstance(value, int):
                return -value
            try:
                return self._peer_id(value)
            except RpcError:
                return None
        return None

    def bytes_of(self, result: Any) -> int:
        return len(result.bytes) if isinstance(result, types.upload.File) else 0

    def expire_reference_of(self, request: Any) -> bool:
        """A random FILE_REFERENCE_EXPIRED made real: the file's reference goes stale, so the client must fetch
        the message again, and the reference it gets then is not expired again for a while (as Telegram's last
        hours). False when the file's reference already expired at random within that while."""
        media_id = getattr(getattr(request, "location", None), "id", None)
        if media_id is None:
            return True
        now = time.monotonic()
        if now - self._random_expiries.get(media_id, -REFERENCE_GRACE_S) < REFERENCE_GRACE_S:
            return False
        self._random_expiries[media_id] = now
        self.world.expire_file_reference(media_id)
        return True

    # ----------------------------------------------------------------- peers
    def _peer_id(self, peer: Any) -> int:
        """Marked id of an input peer/user/channel; an unknown one raises what Telegram raises."""
        if isinstance(peer, (types.InputPeerSelf, types.InputUserSelf)):
            return SELF_USER_ID
        if isinstance(peer, (types.InputPeerUser, types.InputUser)):
            if peer.user_id not in self.world.users:
                raise RpcError(400, "PEER_ID_INVALID" if isinstance(peer, types.InputPeerUser) else "USER_ID_INVALID")
            return peer.user_id
        if isinstance(peer, types.InputPeerChat):
            return -peer.chat_id
        if isinstance(peer, (types.InputPeerChannel, types.InputChannel)):
            return -(CHANNEL_MARK + peer.channel_id)
        if isinstance(peer, (types.InputPeerUserFromMessage, types.InputUserFromMessage)):
            return peer.user_id
        if isinstance(peer, types.InputPeerChannelFromMessage):
            return -(CHANNEL_MARK + peer.channel_id)
        if isinstance(peer, types.InputDialogPeer):
            return self._peer_id(peer.peer)
        if isinstance(peer, (types.PeerUser, types.PeerChat, types.PeerChannel)):
            return self._marked(peer)
        raise RpcError(400, "PEER_ID_INVALID")

    @staticmethod
    def _marked(peer: Any) -> int:
        if isinstance(peer, types.PeerUser):
            return peer.user_id
        if isinstance(peer, types.PeerChat):
            return -peer.chat_id
        return -(CHANNEL_MARK + peer.channel_id)

    def _chat(self, peer: Any) -> ChatSpec:
        """The live chat an input peer names; vanished or unknown chats fail as on Telegram."""
        pid = self._peer_id(peer)
        spec = self.world.chats.get(pid)
        is_channel = pid < -CHANNEL_MARK
        if spec is None or spec.deleted:
            # A channel we were in but no longer see is private to us; anything unknown is an invalid peer.
            if is_channel:
                raise RpcError(400, "CHANNEL_PRIVATE" if spec is not None else "CHANNEL_INVALID")
            raise RpcError(400, "PEER_ID_INVALID")
        access_hash = getattr(peer, "access_hash", None)
        if is_channel and access_hash is not None and access_hash != self.world.access_hash(spec.raw_id):
            raise RpcError(400, "CHANNEL_INVALID")
        return spec

    def _channel(self, peer: Any) -> ChatSpec:
        spec = self._chat(peer)
        if not spec.is_channel:
            raise RpcError(400, "CHANNEL_INVALID")
        return spec

    # ----------------------------------------------------------------- connect-time methods
    def _get_config(self, req: Any, ctx: CallContext) -> types.Config:
        now = _now()
        return types.Config(
            date=now,
            expires=datetime.fromtimestamp(now.timestamp() + 3600, tz=UTC),
            test_mode=False,
            this_dc=ctx.dc_id,
            dc_options=[types.DcOption(dc, host, port, ipv6=":" in host or None) for dc, host, port in self.dcs]
            or [types.DcOption(ctx.dc_id, ctx.host, ctx.port, ipv6=":" in ctx.host or None)],
            dc_txt_domain_name="",
            chat_size_max=200,
            megagroup_size_max=200_000,
            forwarded_count_max=100,
            online_update_period_ms=210_000,
            offline_blur_timeout_ms=5_000,
            offline_idle_timeout_ms=30_000,
            online_cloud_timeout_ms=300_000,
            notify_cloud_delay_ms=30_000,
            notify_default_delay_ms=1_500,
            push_chat_period_ms=60_000,
            push_chat_limit=2,
            edit_time_limit=172_800,
            revoke_time_limit=172_800,
            revoke_pm_time_limit=2_147_483_647,
            rating_e_decay=2_419_200,
            stickers_recent_limit=200,
            channels_read_media_period=604_800,
            call_receive_timeout_ms=20_000,
            call_ring_timeout_ms=90_000,
            call_connect_timeout_ms=30_000,
            call_packet_timeout_ms=10_000,
            me_url_prefix="https://t.me/",
            caption_length_max=1024,
            message_length_max=4096,
            webfile_dc_id=DC_ID,
        )

    def _get_nearest_dc(self, req: Any, ctx: CallContext) -> types.NearestDc:
        return types.NearestDc("ZZ", ctx.dc_id, ctx.dc_id)

    def _get_state(self, req: Any, ctx: CallContext) -> types.updates.State:
        return types.updates.State(pts=1, qts=0, date=_now(), seq=1, unread_count=0)

    def _get_difference(self, req: Any, ctx: CallContext) -> types.updates.DifferenceEmpty:
        return types.updates.DifferenceEmpty(date=_now(), seq=1)

    def _get_channel_difference(self, req: Any, ctx: CallContext) -> types.updates.ChannelDifferenceEmpty:
        self._channel(req.channel)
        return types.updates.ChannelDifferenceEmpty(pts=1, final=True)

    # ----------------------------------------------------------------- users and chats
    def _get_users(self, req: Any, ctx: CallContext) -> list[Any]:
        out: list[Any] = []
        for u in req.id:
            try:
                uid = self._peer_id(u)
            except RpcError:
                out.append(types.UserEmpty(getattr(u, "user_id", 0)))
                continue
            out.append(self.world.tl_user(uid) if uid in self.world.users else types.UserEmpty(uid))
        return out

    def _get_full_user(self, req: Any, ctx: CallContext) -> types.users.UserFull:
        uid = self._peer_id(req.id)
        if uid not in self.world.users:
            raise RpcError(400, "USER_ID_INVALID")
        full = types.UserFull(
            uid,
            types.PeerSettings(),
            types.PeerNotifySettings(),
            common_chats_count=0,
            about="Synthetic user of the tobs-tui emulator",
        )
        return types.users.UserFull(full, [], [self.world.tl_user(uid)])

    def _get_channels(self, req: Any, ctx: CallContext) -> types.messages.Chats:
        return types.messages.Chats([self.world.tl_chat(self._channel(c).peer_id) for c in req.id])

    def _get_chats(self, req: Any, ctx: CallContext) -> types.messages.Chats:
        return types.messages.Chats([self.world.tl_chat(self._chat(types.InputPeerChat(c)).peer_id) for c in req.id])

    def _get_full_channel(self, req: Any, ctx: CallContext) -> types.messages.ChatFull:
        spec = self._channel(req.channel)
        full = types.ChannelFull(
            spec.raw_id,
            about=f"{spec.title} (synthetic)",
            read_inbox_max_id=spec.count,
            read_outbox_max_id=spec.count,
            unread_count=0,
            chat_photo=types.PhotoEmpty(0),
            notify_settings=types.PeerNotifySettings(),
            bot_info=[],
            pts=1,
            participants_count=len(spec.members),
        )
        chats, users = self.world.entities_for([spec.peer_id], set())
        return types.messages.ChatFull(full, chats, users)

    def _get_full_chat(self, req: Any, ctx: CallContext) -> types.messages.ChatFull:
        spec = self._chat(types.InputPeerChat(req.chat_id))
        participants = types.ChatParticipants(
            spec.raw_id, [types.ChatParticipant(u, SELF_USER_ID, as_datetime(spec.first_date)) for u in spec.members], 1
        )
        full = types.ChatFull(spec.raw_id, f"{spec.title} (synthetic)", participants, types.PeerNotifySettings())
        chats, users = self.world.entities_for([spec.peer_id], set(spec.members))
        return types.messages.ChatFull(full, chats, users)

    def _resolve_username(self, req: Any, ctx: CallContext) -> types.contacts.ResolvedPeer:
        pid = self.world.peer_by_username(req.username)
        if pid is None or (pid <= 0 and self.world.chats[pid].deleted):
            raise RpcError(400, "USERNAME_NOT_OCCUPIED")
        chats, users = self.world.entities_for([pid], set())
        return types.contacts.ResolvedPeer(self.world.peer(pid), chats, users)

    # ----------------------------------------------------------------- dialogs
    def _dialog(self, spec: ChatSpec) -> types.Dialog:
        unread = min(spec.count - 1, mix(self.world.seed, 101, spec.raw_id) % 40 if spec.raw_id % 3 == 0 else 0)
        return types.Dialog(
            self.world.peer(spec.peer_id),
            spec.top_id,
            spec.msg_id(spec.count - unread),
            spec.top_id,
            unread,
            0,
            0,
            0,
            types.PeerNotifySettings(),
            pts=1 if spec.is_channel else None,
        )

    def _dialogs_payload(self, specs: list[ChatSpec]) -> tuple[list, list, list, list]:
        dialogs, messages, users = [], [], set()
        for spec in specs:
            dialogs.append(self._dialog(spec))
            msgs, refs = self.world.messages(spec, [spec.top_id])
            messages.extend(msgs)
            users |= refs
        chats, user_objs = self.world.entities_for([s.peer_id for s in specs], users)
        return dialogs, messages, chats, user_objs

    def _get_dialogs(self, req: Any, ctx: CallContext) -> Any:
        if req.folder_id:  # nothing is archived in the synthetic world
            return types.messages.Dialogs([], [], [], [])
        total = len(self.world.dialogs_after(None))
        date = timestamp_of(req.offset_date)
        key = None
        if date > 0 or req.offset_id > 0:
            # Resume strictly after the offset in (top date, top id, peer) order.
            try:
                offset_peer = self._peer_id(req.offset_peer)
            except RpcError:
                offset_peer = 0
            key = (date, req.offset_id, offset_peer)
        rest = self.world.dialogs_after(key)
        limit = 100 if req.limit <= 0 else min(req.limit, 100)
        page = [self.world.chats[p] for p in rest[:limit]]
        payload = self._dialogs_payload(page)
        if key is None and len(page) == total:
            return types.messages.Dialogs(*payload)
        return types.messages.DialogsSlice(total, *payload)

    def _get_peer_dialogs(self, req: Any, ctx: CallContext) -> types.messages.PeerDialogs:
        specs = [self._chat(p.peer) for p in req.peers]
        return types.messages.PeerDialogs(*self._dialogs_payload(specs), state=self._get_state(req, ctx))

    # ----------------------------------------------------------------- history
    def _messages_result(self, spec: ChatSpec, ids: list[int], total: int, complete: bool) -> Any:
        msgs, users = self.world.messages(spec, ids)
        chats, user_objs = self.world.entities_for([spec.peer_id], users)
        if spec.is_channel:
            return types.messages.ChannelMessages(
                pts=1, count=total, messages=msgs, topics=[], chats=chats, users=user_objs
            )
        if complete:
            return types.messages.Messages(msgs, [], chats, user_objs)
        return types.messages.MessagesSlice(total, msgs, [], chats, user_objs)

    def _get_history(self, req: Any, ctx: CallContext) -> Any:
        spec = self._chat(req.peer)
        ids = self.world.window(
            spec.ids(),
            spec.date_of_id,
            offset_id=req.offset_id,
            offset_date=req.offset_date,
            add_offset=req.add_offset,
            limit=req.limit,
            max_id=req.max_id,
            min_id=req.min_id,
        )
        total = spec.count - len(spec.gone)
        complete = len(ids) == total
        if spec.withheld:  # cut after the window is taken, as Telegram does: the page comes back short
            ids = [i for i in ids if i not in spec.withheld]
        return self._messages_result(spec, ids, total, complete=complete)

    def _get_replies(self, req: Any, ctx: CallContext) -> Any:
        spec = self._chat(req.peer)
        if spec.local(req.msg_id) is None:
            raise RpcError(400, "MSG_ID_INVALID")
        asc = self.world.replies_ids(spec, req.msg_id)
        ids = self.world.window(
            asc,
            spec.date_of_id,
            offset_id=req.offset_id,
            offset_date=req.offset_date,
            add_offset=req.add_offset,
            limit=req.limit,
            max_id=req.max_id,
            min_id=req.min_id,
        )
        # Threads always come back as a slice with the thread's size, as Telegram does for getReplies.
        msgs, users = self.world.messages(spec, ids)
        chats, user_objs = self.world.entities_for([spec.peer_id], users)
        if spec.is_channel:
            return types.messages.ChannelMessages(
                pts=1, count=len(asc), messages=msgs, topics=[], chats=chats, users=user_objs
            )
        return types.messages.MessagesSlice(len(asc), msgs, [], chats, user_objs)

    def _wanted_id(self, item: Any, spec: ChatSpec) -> int:
        """The message id an InputMessage asks for in ``spec`` (0 when there is none)."""
        if isinstance(item, types.InputMessageID):
            return item.id
        if isinstance(item, types.InputMessageReplyTo):
            k = spec.local(item.id)
            target = self.world._reply_target(spec, k) if k is not None else None
            return spec.msg_id(target) if target else 0
        return 0

    def _get_messages(self, req: Any, ctx: CallContext) -> types.messages.Messages:
        # Private chats and basic groups share one id space, so an id alone names its chat.
        msgs, users, peers = [], set(), []
        by_slot = self.world.chat_by_slot
        for item in req.id:
            mid = item.id if isinstance(item, (types.InputMessageID, types.InputMessageReplyTo)) else 0
            spec = by_slot[mid % len(by_slot)] if by_slot and mid > 0 else None
            if spec is None or spec.deleted:
                msgs.append(types.MessageEmpty(mid))
                continue
            found, refs = self.world.messages(spec, [self._wanted_id(item, spec)])
            if isinstance(found[0], types.MessageEmpty):
                msgs.append(types.MessageEmpty(mid))
                continue
            msgs.extend(found)
            users |= refs
            peers.append(spec.peer_id)
        chats, user_objs = self.world.entities_for(peers, users)
        return types.messages.Messages(msgs, [], chats, user_objs)

    def _get_channel_messages(self, req: Any, ctx: CallContext) -> types.messages.ChannelMessages:
        spec = self._channel(req.channel)
        ids = [self._wanted_id(item, spec) for item in req.id]
        msgs, users = self.world.messages(spec, ids)
        chats, user_objs = self.world.entities_for([spec.peer_id], users)
        return types.messages.ChannelMessages(
            pts=1, count=len(msgs), messages=msgs, topics=[], chats=chats, users=user_objs
        )

    def _get_search_counters(self, req: Any, ctx: CallContext) -> list[types.messages.SearchCounter]:
        spec = self._chat(req.peer)
        total = len(self.world.topic_message_ids(spec, req.top_msg_id)) if req.top_msg_id else spec.count
        counters = []
        for f in req.filters:
            if not isinstance(f, types.InputMessagesFilterEmpty):
                raise RpcError(400, "FILTER_NOT_SUPPORTED")
            counters.append(types.messages.SearchCounter(f, total))
        return counters

    # ----------------------------------------------------------------- forum topics
    def _forum_topic(self, spec: ChatSpec, topic_id: int, title: str, color: int) -> types.ForumTopic:
        ids = self.world.topic_message_ids(spec, topic_id)
        top = ids[-1] if ids else topic_id
        return types.ForumTopic(
            topic_id,
            as_datetime(spec.date_of(topic_id)),
            self.world.peer(spec.peer_id),
            title,
            color,
            top,
            top,
            top,
            0,
            0,
            0,
            0,
            self.world.peer(SELF_USER_ID),
            types.PeerNotifySettings(),
        )

    def _topics(self, spec: ChatSpec) -> list[types.ForumTopic]:
        """All topics, most recently active first (Telegram's default order), General included."""
        topics = [self._forum_topic(spec, 1, "General", 0x6FB9F0)]
        topics += [self._forum_topic(spec, t.id, t.title, t.icon_color) for t in spec.topics]
        topics.sort(key=lambda t: (t.top_message, t.id), reverse=True)
        return topics

    def _topics_result(self, spec: ChatSpec, topics: list[types.ForumTopic], total: int) -> types.messages.ForumTopics:
        msgs, users = self.world.messages(spec, [t.top_message for t in topics])
        chats, user_objs = self.world.entities_for([spec.peer_id], users | {SELF_USER_ID})
        return types.messages.ForumTopics(total, topics, msgs, chats, user_objs, pts=1)

    def _get_forum_topics(self, req: Any, ctx: CallContext) -> types.messages.ForumTopics:
        spec = self._channel(req.peer)
        if spec.kind != "forum":
            raise RpcError(400, "CHANNEL_FORUM_MISSING")
        topics = self._topics(spec)
        if req.q:
            topics = [t for t in topics if req.q.lower() in t.title.lower()]
        total = len(topics)
        date = timestamp_of(req.offset_date)
        if date:
            # Resume after the offset in Telegram's order, (top message's date, top message, id): the client
            # must send the date of the last topic's top message, not of its creation (TDLib does the same).
            dated = (date, req.offset_id, req.offset_topic)
            topics = [t for t in topics if (spec.date_of_id(t.top_message), t.top_message, t.id) < dated]
        elif req.offset_topic or req.offset_id:
            # Resume after the offset topic in the (top message, id) order.
            key = (req.offset_id, req.offset_topic)
            topics = [t for t in topics if (t.top_message, t.id) < key]
        limit = 100 if req.limit <= 0 else min(req.limit, 100)
        return self._topics_result(spec, topics[:limit], total)

    def _get_forum_topics_by_id(self, req: Any, ctx: CallContext) -> types.messages.ForumTopics:
        spec = self._channel(req.peer)
        by_id = {t.id: t for t in self._topics(spec)}
        found = [by_id[i] for i in req.topics if i in by_id]
        return self._topics_result(spec, found, len(found))

    # ----------------------------------------------------------------- files
    def _get_file(self, req: Any, ctx: CallContext) -> types.upload.File:
        loc = req.location
        if isinstance(loc, (types.InputDocumentFileLocation, types.InputPhotoFileLocation)):
            variant = loc.thumb_size
        else:
            raise RpcError(400, "LOCATION_INVALID")
        try:
            media = self.world.media_file(loc.id, variant)
        except KeyError:
            raise RpcError(400, "LOCATION_INVALID") from None
        if loc.access_hash != self.world.access_hash(loc.id):
            raise RpcError(400, "LOCATION_INVALID")
        if bytes(loc.file_reference) != self.world.file_reference(loc.id):
            raise RpcError(400, "FILE_REFERENCE_EXPIRED")
        stored = self.world.file_dc(loc.id)
        if stored != ctx.dc_id:
            raise RpcError(303, f"FILE_MIGRATE_{stored}")
        offset, limit = req.offset, req.limit
        if req.precise:
            if limit <= 0 or limit % 1024 or limit > _MIB:
                raise RpcError(400, "LIMIT_INVALID")
            if offset < 0 or offset % 1024:
                raise RpcError(400, "OFFSET_INVALID")
        else:
            if limit <= 0 or limit % 4096 or _MIB % limit:
                raise RpcError(400, "LIMIT_INVALID")
            if offset < 0 or offset % 4096 or offset // _MIB != (offset + limit - 1) // _MIB:
                raise RpcError(400, "OFFSET_INVALID")
        return types.upload.File(_storage_type(media.mime_type), int(time.time()), media.read(offset, limit))

    # ----------------------------------------------------------------- takeout
    def _init_takeout(self, req: Any, ctx: CallContext) -> types.account.Takeout:
        takeout_id = mix(self.world.seed, 111, ctx.auth_key_id, len(self._takeouts))
        self._takeouts[takeout_id] = ctx.auth_key_id
        return types.account.Takeout(takeout_id)

    def _finish_takeout(self, req: Any, ctx: CallContext) -> bool:
        for tid, key in list(self._takeouts.items()):
            if key == ctx.auth_key_id and (ctx.takeout_id is None or tid == ctx.takeout_id):
                del self._takeouts[tid]
        return True

    # ----------------------------------------------------------------- login
    @staticmethod
    def _normal_phone(phone: str) -> str:
        return "".join(ch for ch in phone if ch.isdigit())

    def _accounts(self) -> set[str]:
        return {self._normal_phone(self.world.demo_phone), self._normal_phone(self.world.twofa_phone)}

    def _send_code(self, req: Any, ctx: CallContext) -> types.auth.SentCode:
        if self.dcs and ctx.dc_id != self.dcs[0][0]:
            raise RpcError(303, f"PHONE_MIGRATE_{self.dcs[0][0]}")  # every account here lives on the first DC
        phone = self._normal_phone(req.phone_number)
        if phone not in self._accounts():
            raise RpcError(400, "PHONE_NUMBER_INVALID")
        code_hash = f"{mix(self.world.seed, 121, ctx.auth_key_id, int(phone)):x}"
        self._code_sent[ctx.auth_key_id] = (phone, code_hash)
        return types.auth.SentCode(types.auth.SentCodeTypeApp(len(self.world.demo_code)), code_hash)

    def _sign_in(self, req: Any, ctx: CallContext) -> types.auth.Authorization:
        phone = self._normal_phone(req.phone_number)
        sent = self._code_sent.get(ctx.auth_key_id)
        if sent is None or sent[0] != phone:
            raise RpcError(400, "PHONE_NUMBER_UNOCCUPIED" if phone not in self._accounts() else "PHONE_CODE_EXPIRED")
        if req.phone_code_hash != sent[1]:
            raise RpcError(400, "PHONE_CODE_HASH_EMPTY" if not req.phone_code_hash else "PHONE_CODE_EXPIRED")
        if (req.phone_code or "") != self.world.demo_code:
            raise RpcError(400, "PHONE_CODE_INVALID")
        del self._code_sent[ctx.auth_key_id]
        self._phones[ctx.auth_key_id] = phone
        if phone == self._normal_phone(self.world.twofa_phone):
            self._awaiting_password.add(ctx.auth_key_id)
            raise RpcError(401, "SESSION_PASSWORD_NEEDED")
        self.authorize(ctx.auth_key_id)
        return types.auth.Authorization(self.world.tl_user(SELF_USER_ID))

    def _export_authorization(self, req: Any, ctx: CallContext) -> types.auth.ExportedAuthorization:
        if req.dc_id == ctx.dc_id or req.dc_id not in {dc for dc, _, _ in self.dcs}:
            raise RpcError(400, "DC_ID_INVALID")
        token = mix(self.world.seed, 141, ctx.auth_key_id, req.dc_id, len(self._exported)).to_bytes(8, "big") * 4
        self._exported[token] = req.dc_id
        return types.auth.ExportedAuthorization(SELF_USER_ID, token)

    def _import_authorization(self, req: Any, ctx: CallContext) -> types.auth.Authorization:
        if req.id != SELF_USER_ID or self._exported.get(bytes(req.bytes)) != ctx.dc_id:
            raise RpcError(400, "AUTH_BYTES_INVALID")
        del self._exported[bytes(req.bytes)]
        self.authorize(ctx.auth_key_id)
        return types.auth.Authorization(self.world.tl_user(SELF_USER_ID))

    def _export_login_token(self, req: Any, ctx: CallContext) -> Any:
        """A QR login token for this key; once another app accepted it, the login itself (or the 2FA step)."""
        now = time.time()
        for token, (key, _expires, accepted) in list(self._login_tokens.items()):
            if key != ctx.auth_key_id:
                continue
            del self._login_tokens[token]
            if not accepted:
                continue  # a new token replaces the old ones, as Telegram's do
            if self.dcs and ctx.dc_id != self.dcs[0][0]:
                # As Telegram does for an account that lives elsewhere: log in there, with this token.
                moved = mix(self.world.seed, 153, ctx.auth_key_id, len(self._import_tokens)).to_bytes(8, "big") * 4
                self._import_tokens[moved] = (self.dcs[0][0], accepted)
                return types.auth.LoginTokenMigrateTo(self.dcs[0][0], moved)
            return self._log_in_with_token(accepted, ctx)
        token = mix(self.world.seed, 151, ctx.auth_key_id, int(now * 1000)).to_bytes(8, "big") * 4
        self._login_tokens[token] = [ctx.auth_key_id, now + LOGIN_TOKEN_TTL_S, ""]
        return types.auth.LoginToken(datetime.fromtimestamp(now + LOGIN_TOKEN_TTL_S, tz=UTC), token)

    def _log_in_with_token(self, phone: str, ctx: CallContext) -> types.auth.LoginTokenSuccess:
        """The key that asked for an accepted QR login is logged in as `phone` (or must give the 2FA password)."""
        self._phones[ctx.auth_key_id] = phone
        if phone == self._normal_phone(self.world.twofa_phone):
            self._awaiting_password.add(ctx.auth_key_id)
            raise RpcError(401, "SESSION_PASSWORD_NEEDED")
        self.authorize(ctx.auth_key_id)
        return types.auth.LoginTokenSuccess(types.auth.Authorization(self.world.tl_user(SELF_USER_ID)))

    def _import_login_token(self, req: Any, ctx: CallContext) -> types.auth.LoginTokenSuccess:
        """auth.importLoginToken on the DC a loginTokenMigrateTo named."""
        entry = self._import_tokens.get(bytes(req.token))
        if entry is None or entry[0] != ctx.dc_id:
            raise RpcError(400, "AUTH_TOKEN_INVALID")
        del self._import_tokens[bytes(req.token)]
        return self._log_in_with_token(entry[1], ctx)

    def _accept_login_token(self, req: Any, ctx: CallContext) -> types.Authorization:
        """Another, logged-in app "scanned" the code: the waiting key is told by an updateLoginToken."""
        entry = self._login_tokens.get(bytes(req.token))
        if entry is None:
            raise RpcError(400, "AUTH_TOKEN_INVALID")
        if entry[1] < time.time():
            del self._login_tokens[bytes(req.token)]
            raise RpcError(400, "AUTH_TOKEN_EXPIRED")
        if entry[2]:
            raise RpcError(400, "AUTH_TOKEN_ALREADY_ACCEPTED")
        entry[2] = self._phones.get(ctx.auth_key_id, self._normal_phone(self.world.demo_phone))
        self.pending_updates.append((entry[0], types.UpdateLoginToken()))
        now = _now()
        return types.Authorization(
            mix(self.world.seed, 152, entry[0]) >> 1,
            "tobs-tui",
            "Linux",
            "",
            1,
            "tobs-tui",
            "1",
            now,
            now,
            "127.0.0.1",
            "ZZ",
            "",
        )

    def _verifier(self) -> SrpVerifier:
        if self._srp is None:
            salt1 = mix(self.world.seed, 131).to_bytes(8, "big")
            salt2 = mix(self.world.seed, 132).to_bytes(8, "big") * 2
            self._srp = SrpVerifier(self.world.twofa_password, salt1, salt2)
        return self._srp

    def _get_password(self, req: Any, ctx: CallContext) -> types.account.Password:
        if ctx.auth_key_id not in self._awaiting_password and ctx.auth_key_id not in self._authorized:
            raise RpcError(401, "AUTH_KEY_UNREGISTERED")
        return self._verifier().challenge(hint="the demo 2FA password")

    def _check_password(self, req: Any, ctx: CallContext) -> types.auth.Authorization:
        if ctx.auth_key_id not in self._awaiting_password:
            raise RpcError(400, "PASSWORD_HASH_INVALID")
        srp = req.password
        if not isinstance(srp, types.InputCheckPasswordSRP):
            raise RpcError(400, "PASSWORD_HASH_INVALID")
        ok = self._verifier().check(srp)
        if ok is None:
            raise RpcError(400, "SRP_ID_INVALID")
        if not ok:
            raise RpcError(400, "PASSWORD_HASH_INVALID")
        self._awaiting_password.discard(ctx.auth_key_id)
        self.authorize(ctx.auth_key_id)
        return types.auth.Authorization(self.world.tl_user(SELF_USER_ID))

    def _log_out(self, req: Any, ctx: CallContext) -> types.auth.LoggedOut:
        self._authorized.discard(ctx.auth_key_id)
        self._awaiting_password.discard(ctx.auth_key_id)
        return types.auth.LoggedOut()


def _storage_type(mime: str) -> Any:
    return {
        "image/jpeg": types.storage.FileJpeg(),
        "video/mp4": types.storage.FileMp4(),
        "audio/mpeg": types.storage.FileMp3(),
        "image/webp": types.storage.FileWebp(),
        "application/pdf": types.storage.FilePdf(),
    }.get(mime) or types.storage.FileUnknown()
