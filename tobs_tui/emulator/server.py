"""The emulated DC's MTProto server: TCP-full framing, MTProto 2.0 with pre-shared auth keys, sessions,
containers, acks, pings, wrappers, and the profile's latency, limits and faults around each API call."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import struct
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import sha256

from telethon.crypto import AES, AuthKey, libssl
from telethon.crypto import aes as _telethon_aes
from telethon.errors import TypeNotFoundError
from telethon.extensions import BinaryReader
from telethon.network.mtprotostate import MTProtoState
from telethon.tl import functions
from telethon.tl.core import GzipPacked, MessageContainer
from telethon.tl.tlobject import TLObject, TLRequest
from telethon.tl.types import BadServerSalt, MsgsAck, NewSessionCreated, Pong, UpdateShort
from telethon.tl.types import RpcError as TlRpcError

from tobs_tui.emulator.errors import RpcError
from tobs_tui.emulator.handshake import KeyExchange
from tobs_tui.emulator.profiles import Behaviour, error_code
from tobs_tui.emulator.requestlog import Record, RequestLog, request_params
from tobs_tui.emulator.transports import FullTransport, ObfuscatedTransport, TransportClosed

_log = logging.getLogger(__name__)

DC_ID = 2
_RPC_RESULT = struct.Struct("<Iq")
_VECTOR = struct.Struct("<Ii")
_LONG = struct.Struct("<q")
_BOOL_TRUE = struct.pack("<I", 0x997275B5)
_BOOL_FALSE = struct.pack("<I", 0xBC799737)
_AUTH_KEY_NOT_FOUND = struct.pack("<i", -404)
_NO_KEY = bytes(8)  # the auth key id of a plain-text message

_WRAPPERS = {
    functions.InvokeWithLayerRequest.CONSTRUCTOR_ID,
    functions.InitConnectionRequest.CONSTRUCTOR_ID,
    functions.InvokeWithoutUpdatesRequest.CONSTRUCTOR_ID,
    functions.InvokeWithTakeoutRequest.CONSTRUCTOR_ID,
    functions.InvokeWithMessagesRangeRequest.CONSTRUCTOR_ID,
    functions.InvokeAfterMsgRequest.CONSTRUCTOR_ID,
    functions.InvokeAfterMsgsRequest.CONSTRUCTOR_ID,
}
_PINGS = {functions.PingRequest.CONSTRUCTOR_ID, functions.PingDelayDisconnectRequest.CONSTRUCTOR_ID}


def _libssl_ige(encrypt: bool) -> Callable[[bytes, bytes, bytes], bytes]:
    # Telethon's libssl wrapper copies every byte through a Python tuple (about 3.5 ms per 16 KB reply);
    # handing libssl the buffers directly makes the reply path's crypto ~50x cheaper.
    lib = libssl._libssl
    set_key = lib.AES_set_encrypt_key if encrypt else lib.AES_set_decrypt_key
    mode = ctypes.c_int(1 if encrypt else 0)

    def ige(data: bytes, key: bytes, iv: bytes) -> bytes:
        aes_key = libssl.AES_KEY()
        set_key(key, ctypes.c_int(len(key) * 8), ctypes.byref(aes_key))
        out = ctypes.create_string_buffer(len(data))
        iv_buf = ctypes.create_string_buffer(iv, len(iv))  # IGE updates the iv in place
        lib.AES_ige_encrypt(data, out, ctypes.c_size_t(len(data)), ctypes.byref(aes_key), iv_buf, mode)
        return out.raw

    return ige


if _telethon_aes.cryptg is None and libssl.encrypt_ige is not None:
    _encrypt_ige, _decrypt_ige = _libssl_ige(True), _libssl_ige(False)
else:  # cryptg is fast already; pure-Python pyaes is the last resort
    _encrypt_ige, _decrypt_ige = AES.encrypt_ige, AES.decrypt_ige


def serialize_result(result: object) -> bytes:
    """TL bytes of what an Api handler returned: a TL object, a bool, or a list written as a Vector."""
    if isinstance(result, TLObject):
        return bytes(result)
    if isinstance(result, bool):
        return _BOOL_TRUE if result else _BOOL_FALSE
    if isinstance(result, list):
        parts = [_VECTOR.pack(0x1CB5C415, len(result))]
        for item in result:
            parts.append(_LONG.pack(item) if isinstance(item, int) else bytes(item))
        return b"".join(parts)
    raise TypeError(f"Api returned {type(result).__name__}, which has no TL form")


def unwrap(request: TLRequest) -> tuple[TLRequest, int | None]:
    """The request inside Telethon's invoke wrappers, and the takeout id if one wrapper carried it."""
    takeout_id = None
    while request.CONSTRUCTOR_ID in _WRAPPERS:
        if isinstance(request, functions.InvokeWithTakeoutRequest):
            takeout_id = request.takeout_id
        request = request.query
    return request, takeout_id


class _MsgIds:
    """Server msg_ids: real time (so Telethon's clock window holds), odd, strictly increasing."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def next(self, response: bool) -> int:
        now = time.time()
        msg_id = (int(now) << 32) | (int((now % 1) * 1e9) << 2)
        msg_id = (msg_id & ~3) | (1 if response else 3)
        if msg_id <= self._last:
            msg_id = self._last + 4
        self._last = msg_id
        return msg_id


class DcServer:
    """One emulated DC on an asyncio loop: accepts Telethon connections and answers through ``api``."""

    def __init__(
        self, api, behaviour: Behaviour, log: RequestLog, *, dc_id: int = DC_ID, mtproxy_secret: str | None = None
    ) -> None:
        # Imported here so the package (profiles, CLI parsing, the world) loads without the handlers.
        from tobs_tui.emulator.api import CallContext

        self._context = CallContext
        self.api = api
        self.behaviour = behaviour
        self.log = log
        self.dc_id = dc_id
        self.salt = struct.unpack("<q", os.urandom(8))[0]
        self.host = ""
        self.port = 0
        self.mtproxy_secret = mtproxy_secret
        self.mtproxy_port = 0
        self._mtproxy: asyncio.base_events.Server | None = None
        self.siblings: dict[int, DcServer] = {dc_id: self}  # every DC on this loop, for the MTProxy to route to
        self._keys: dict[int, bytes] = {}
        self._msg_ids = _MsgIds()
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._next_conn_id = 0

    def add_key(self, key: bytes) -> int:
        """Accept a pre-shared 256-byte auth key; returns its key id (as Telethon computes it)."""
        key_id = AuthKey(key).key_id
        self._keys[key_id] = key
        return key_id

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        if self.mtproxy_secret is not None:
            # An MTProxy in front of this DC: its own port, the obfuscated transport keyed by the secret.
            self._mtproxy = await asyncio.start_server(self._accept_mtproxy, host, 0)
            self.mtproxy_port = self._mtproxy.sockets[0].getsockname()[1]

    async def close(self) -> None:
        listeners = [s for s in (self._server, self._mtproxy) if s is not None]
        for listener in listeners:
            listener.close()
        for conn in list(self._connections):
            conn.close()
        for listener in listeners:
            await listener.wait_closed()

    def push(self, auth_key_id: int, update: TLObject) -> None:
        """Send `update` to every connection of that auth key, on any of the DCs (they share one loop)."""
        body = bytes(UpdateShort(update, datetime.now(tz=UTC)))
        for server in self.siblings.values():
            for conn in list(server._connections):
                if conn._key_id == auth_key_id:
                    for session_id in list(conn._sessions):
                        conn._send(session_id, body, True)

    def drop_connections(self) -> None:
        """Close every client connection now (Telethon reconnects and resends what was pending)."""
        for conn in list(self._connections):
            conn.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(writer, FullTransport(reader))

    async def _accept_mtproxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.mtproxy_secret is not None
        transport = ObfuscatedTransport(reader, self.mtproxy_secret)
        try:
            await transport.handshake()
        except (asyncio.IncompleteReadError, ConnectionError, TransportClosed):
            writer.close()
            return
        target = self.siblings.get(abs(transport.dc_id))  # negative: a media connection to that DC
        if target is None:
            writer.close()
            return
        await target._serve(writer, transport)

    async def _serve(self, writer: asyncio.StreamWriter, transport: FullTransport | ObfuscatedTransport) -> None:
        self._next_conn_id += 1
        conn = _Connection(self, writer, self._next_conn_id, transport)
        self._connections.add(conn)
        try:
            while not conn.closed:
                conn.on_packet(await transport.read())
                await writer.drain()  # a client that sends but does not read cannot grow our buffers
        except (asyncio.IncompleteReadError, ConnectionError, TransportClosed):
            pass
        finally:
            conn.close()
            self._connections.discard(conn)


class _Connection:
    """One TCP connection: its transport counter, auth key, sessions and the replies still to be written."""

    def __init__(
        self,
        server: DcServer,
        writer: asyncio.StreamWriter,
        conn_id: int,
        transport: FullTransport | ObfuscatedTransport,
    ) -> None:
        self.server = server
        self.writer = writer
        self.conn_id = conn_id
        self.transport = transport
        self.closed = False
        self._key: bytes | None = None
        self._key_id = 0
        self._sessions: dict[int, int] = {}  # session id -> content-related messages sent
        self._media_free: list[float] = []  # when each media stream of this connection is next free
        self._exchange: KeyExchange | None = None
        peer = writer.get_extra_info("peername") or ("", 0)
        self.client = f"{peer[0]}:{peer[1]}"
        self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    # Incoming

    def on_packet(self, packet: bytes) -> None:
        if packet[:8] == _NO_KEY:
            self._on_plain(packet)
            return
        if len(packet) < 24 + 32 or len(packet) % 16 != 8:
            self.close()  # not an MTProto 2.0 encrypted message: nothing sensible to answer
            return
        key_id = struct.unpack_from("<Q", packet)[0]
        key = self._key if key_id == self._key_id and self._key else self.server._keys.get(key_id)
        if key is None:
            # What Telegram sends for an unknown key; Telethon turns it into AuthKeyNotFound.
            self._write_frame(_AUTH_KEY_NOT_FOUND)
            self.close()
            return
        self._key, self._key_id = key, key_id
        msg_key = packet[8:24]
        aes_key, aes_iv = MTProtoState._calc_key(key, msg_key, True)
        plain = _decrypt_ige(packet[24:], aes_key, aes_iv)
        if sha256(key[88:120] + plain).digest()[8:24] != msg_key:
            self.close()
            return
        salt, session_id, msg_id, seq_no, length = struct.unpack_from("<qqqii", plain)
        if session_id not in self._sessions:
            self._sessions[session_id] = 0
            unique = struct.unpack("<q", os.urandom(8))[0]
            self._send(session_id, bytes(NewSessionCreated(msg_id, unique, self.server.salt)), False)
        if salt != self.server.salt:
            self._send(session_id, bytes(BadServerSalt(msg_id, seq_no, 48, self.server.salt)), False)
            return
        try:
            obj = BinaryReader(plain[32 : 32 + length]).tgread_object()
        except TypeNotFoundError:
            self.close()
            return
        self._dispatch(session_id, msg_id, obj)

    def _on_plain(self, packet: bytes) -> None:
        """A message without a key: a step of the DH exchange that gives this client one."""
        if len(packet) < 20:
            self.close()
            return
        length = struct.unpack_from("<i", packet, 16)[0]
        try:
            request = BinaryReader(packet[20 : 20 + length]).tgread_object()
        except (TypeNotFoundError, struct.error, BufferError):
            self.close()
            return
        if self._exchange is None:
            self._exchange = KeyExchange()
        answer = self._exchange.answer(request)
        self._log(type(request).__name__, None, {}, None if answer is not None else "refused")
        if answer is None:
            self.close()
            return
        body = bytes(answer)
        self._write_frame(_NO_KEY + struct.pack("<qi", self.server._msg_ids.next(True), len(body)) + body)
        if self._exchange.auth_key is not None:
            self.server.add_key(self._exchange.auth_key)
            self._exchange = None

    def _log(self, method: str, peer: int | None, params: dict, error: str | None, sent: int = 0) -> None:
        self.server.log.add(
            Record(
                time.time(),
                method,
                self.conn_id,
                peer,
                params,
                error,
                sent,
                client=self.client,
                transport=self.transport.name,
                dc=self.server.dc_id,
            )
        )

    def _dispatch(self, session_id: int, msg_id: int, obj: TLObject) -> None:
        if isinstance(obj, MessageContainer):
            for inner in obj.messages:
                self._dispatch(session_id, inner.msg_id, inner.obj)
        elif isinstance(obj, GzipPacked):
            self._dispatch(session_id, msg_id, BinaryReader(obj.data).tgread_object())
        elif isinstance(obj, MsgsAck):
            return
        elif obj.CONSTRUCTOR_ID in _PINGS:
            self._send(session_id, bytes(Pong(msg_id, obj.ping_id)), False)
        elif isinstance(obj, TLRequest):
            self._call(session_id, msg_id, obj)

    # One RPC

    def _call(self, session_id: int, msg_id: int, request: TLRequest) -> None:
        server = self.server
        inner, takeout_id = unwrap(request)
        method = type(inner).__name__
        peer = server.api.peer_of(inner)
        decision = server.behaviour.decide(method, peer, self._key_id, takeout_id is not None)
        error, action, delay = decision.error, decision.action, decision.delay
        if error == "FILE_REFERENCE_EXPIRED" and not server.api.expire_reference_of(inner):
            error = None  # this file's reference was just renewed: it stays good
        code = error_code(error) if error else 0
        sent = 0
        body = b""
        if action == "vanish" and peer is not None and peer in server.api.world.chats:
            server.api.world.delete_chat(peer)  # the chat goes just before this call: it and every later one fail
        if action == "drop_before_reply":
            self._log(method, peer, request_params(inner), action)
            self.close()
            return
        if error is None:
            try:
                result = server.api.call(
                    inner,
                    server._context(self._key_id, self.conn_id, takeout_id, server.dc_id, server.host, server.port),
                )
                body = serialize_result(result)
            except RpcError as e:
                code, error = e.code, e.message
            except Exception:
                # A bug in a handler, or a reply with a value TL cannot carry: loud in the server's log, and a
                # 400 so Telethon raises at once instead of retrying a 500 or reconnecting forever (a reply that
                # failed to serialise used to drop the connection, which Telethon retries without end).
                _log.exception("Api handler failed on %s", method)
                code, error = 400, "EMULATOR_HANDLER_FAILED"
            else:
                if method == "GetFileRequest" and action != "no_reply":
                    sent = server.api.bytes_of(result)
                    delay = self._media_delay(sent, delay)
        self._log(method, peer, request_params(inner), error or action, sent)
        while server.api.pending_updates:
            server.push(*server.api.pending_updates.pop(0))
        if action == "no_reply":
            return
        if error is not None:
            body = bytes(TlRpcError(code, error))
        reply = _RPC_RESULT.pack(0xF35C6D01, msg_id) + body
        if delay > 0:
            self._loop.call_later(delay, self._reply, session_id, reply, action)
        else:
            self._reply(session_id, reply, action)

    def _media_delay(self, nbytes: int, delay: float) -> float:
        profile = self.server.behaviour.profile
        if not profile.media_bandwidth or not nbytes:
            return delay
        # Each of media_streams parts in flight gets the full bandwidth; more parts queue behind them.
        streams = self._media_free
        if len(streams) != profile.media_streams:
            streams[:] = [0.0] * profile.media_streams
        now = time.monotonic()
        slot = min(range(len(streams)), key=streams.__getitem__)
        start = max(now + delay, streams[slot])
        streams[slot] = start + nbytes / profile.media_bandwidth
        return streams[slot] - now

    def _reply(self, session_id: int, reply: bytes, action: str | None) -> None:
        if self.closed:
            return
        self._send(session_id, reply, True, response=True)
        if action == "drop_after_reply":
            self.close()

    # Outgoing

    def _send(self, session_id: int, body: bytes, content_related: bool, *, response: bool = False) -> None:
        if self.closed:
            return
        count = self._sessions.get(session_id, 0)
        if content_related:
            seq_no = count * 2 + 1
            self._sessions[session_id] = count + 1
        else:
            seq_no = count * 2
        key = self._key
        msg_id = self.server._msg_ids.next(response)
        data = struct.pack("<qqqii", self.server.salt, session_id, msg_id, seq_no, len(body)) + body
        data += os.urandom(-(len(data) + 12) % 16 + 12)
        msg_key = sha256(key[96:128] + data).digest()[8:24]
        aes_key, aes_iv = MTProtoState._calc_key(key, msg_key, False)
        self._write_frame(struct.pack("<Q", self._key_id) + msg_key + _encrypt_ige(data, aes_key, aes_iv))

    def _write_frame(self, payload: bytes) -> None:
        self.writer.write(self.transport.frame(payload))


class ServerThread:
    """Runs the DcServers on one thread and asyncio loop, so callers on any loop (or none) can use them."""

    def __init__(self, server: DcServer, *others: DcServer) -> None:
        self.server = server
        self.servers = (server, *others)
        for each in self.servers:
            each.siblings = {s.dc_id: s for s in self.servers}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="tobs-emulator", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._thread.start()
        try:
            for each in self.servers:  # the first on the port asked for, the others on free ones
                asyncio.run_coroutine_threadsafe(
                    each.start(host, port if each is self.server else 0), self._loop
                ).result(10)
        except BaseException:
            self.stop()
            raise

    def call(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on the server loop and return its result (for changes that must not race a request)."""
        if not self._thread.is_alive():
            return fn()

        async def run() -> object:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            for each in self.servers:
                asyncio.run_coroutine_threadsafe(each.close(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
