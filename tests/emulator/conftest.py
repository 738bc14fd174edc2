"""Emulator server fixtures: one shared emulator for tests that don't interfere, fresh ones for those that do."""

from __future__ import annotations

import datetime as dt
import sys
import types as pytypes
from dataclasses import dataclass
from pathlib import Path

import pytest
from telethon.tl import functions, types

import tobs_tui

if not (Path(tobs_tui.__file__).parent / "emulator" / "api.py").exists():
    # The world's Api has not landed yet: give the server the CallContext of the shared contract.
    @dataclass
    class CallContext:
        auth_key_id: int
        conn_id: int
        takeout_id: int | None
        dc_id: int

    shim = pytypes.ModuleType("tobs_tui.emulator.api")
    shim.CallContext = CallContext
    sys.modules["tobs_tui.emulator.api"] = shim

from tobs_tui.emulator.errors import RpcError  # noqa: E402

SELF_ID = 1000
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class TinyApi:
    """Connect, get_me and a self-chat history of ``count`` messages, paged the way Telegram pages."""

    def __init__(self, count: int = 250) -> None:
        self.count = count
        self.authorized: set[int] = set()
        self.me = types.User(id=SELF_ID, is_self=True, access_hash=7, first_name="Me", phone="99966610000")

    def is_authorized(self, auth_key_id: int) -> bool:
        return auth_key_id in self.authorized

    def authorize(self, auth_key_id: int) -> None:
        self.authorized.add(auth_key_id)

    def peer_of(self, request) -> int | None:
        peer = getattr(request, "peer", None)
        return SELF_ID if isinstance(peer, types.InputPeerSelf) else None

    def bytes_of(self, result) -> int:
        return 0

    def call(self, request, ctx):
        if isinstance(request, functions.help.GetConfigRequest):
            return config(ctx.dc_id)
        if not self.is_authorized(ctx.auth_key_id):
            raise RpcError(401, "AUTH_KEY_UNREGISTERED")
        if isinstance(request, functions.users.GetUsersRequest):
            return [self.me]
        if isinstance(request, functions.updates.GetStateRequest):
            return types.updates.State(pts=1, qts=0, date=NOW, seq=1, unread_count=0)
        if isinstance(request, functions.updates.GetDifferenceRequest):
            return types.updates.DifferenceEmpty(date=NOW, seq=1)
        if isinstance(request, functions.messages.GetHistoryRequest):
            return self.history(request)
        raise RpcError(400, "METHOD_NOT_SUPPORTED")

    def history(self, r):
        ids = [i for i in range(self.count, 0, -1) if (not r.max_id or i < r.max_id) and i > r.min_id]
        start = next((n for n, i in enumerate(ids) if i < r.offset_id), len(ids)) if r.offset_id else 0
        window = ids[max(start + r.add_offset, 0) : max(start + r.add_offset + min(r.limit, 100), 0)]
        msgs = [
            types.Message(id=i, peer_id=types.PeerUser(SELF_ID), date=NOW, message=f"m{i}", out=True)
            for i in window
        ]
        if len(window) == len(ids):
            return types.messages.Messages(messages=msgs, chats=[], users=[self.me])
        return types.messages.MessagesSlice(count=len(ids), messages=msgs, chats=[], users=[self.me], topics=[])


def config(dc_id: int) -> types.Config:
    return types.Config(
        date=NOW, expires=NOW + dt.timedelta(days=1), test_mode=False, this_dc=dc_id,
        dc_options=[types.DcOption(id=dc_id, ip_address="127.0.0.1", port=1)],
        dc_txt_domain_name="", chat_size_max=200, megagroup_size_max=200000, forwarded_count_max=100,
        online_update_period_ms=1, offline_blur_timeout_ms=1, offline_idle_timeout_ms=1,
        online_cloud_timeout_ms=1, notify_cloud_delay_ms=1, notify_default_delay_ms=1, push_chat_period_ms=1,
        push_chat_limit=1, edit_time_limit=1, revoke_time_limit=1, revoke_pm_time_limit=1, rating_e_decay=1,
        stickers_recent_limit=1, channels_read_media_period=1, call_receive_timeout_ms=1,
        call_ring_timeout_ms=1, call_connect_timeout_ms=1, call_packet_timeout_ms=1, me_url_prefix="",
        caption_length_max=1024, message_length_max=4096, webfile_dc_id=dc_id,
    )
