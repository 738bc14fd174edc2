"""Per-batch sender preload: every unique sender of a batch is named once, before rendering.

Names come from the entities the history batch carried, then a bounded LRU, then ONE batched
network call (injected resolver) for whatever is still missing.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from telethon import utils

from tobs_tui.engine.telegram.entities import display_name

log = logging.getLogger(__name__)

Resolver = Callable[[list[int]], Awaitable[dict[int, object]]]


def _peer_id(entity: object) -> int | None:
    try:
        return utils.get_peer_id(entity)
    except TypeError:
        return None


class SenderPreloader:
    """Names every sender of a batch with at most one network call per batch."""

    def __init__(self, resolver: Resolver, *, cache_size: int = 10_000, self_id: int | None = None) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1 (got {cache_size})")
        self._resolver = resolver
        self._cache_size = cache_size
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._batch: dict[int, str] = {}  # the last preloaded batch, whatever the LRU evicted
        self._titles: dict[int, str] = {}  # chats of the last batch, for channel posts
        self._self_id = self_id
        self._lookups = self._hits = self._from_batch = self._misses = 0
        self._network_calls = self._resolved = 0

    def _remember(self, peer_id: int, name: str) -> None:
        self._cache[peer_id] = name
        self._cache.move_to_end(peer_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _sender_of(self, message: object) -> int | None:
        sender = getattr(message, "sender_id", None)
        if sender is None and getattr(message, "out", False):
            # Our own messages in private chats carry no from_id.
            return self._self_id
        return sender

    async def preload(self, messages: Iterable[object], entities: dict[int, object]) -> None:
        """Fill names for every sender of `messages`; raises whatever the resolver raises."""
        # Re-key by marked id ourselves: callers hand us dicts keyed either way.
        carried = {pid: e for e in entities.values() if (pid := _peer_id(e)) is not None}
        wanted: list[int] = []
        seen: set[int] = set()
        titled: set[int] = set()  # a batch is one chat's: its title is named once, not once per message
        for message in messages:
            sender = self._sender_of(message)
            if sender is not None and sender not in seen:
                seen.add(sender)
                wanted.append(sender)
            chat = getattr(message, "chat_id", None)
            if chat is not None and chat not in titled and chat in carried:
                titled.add(chat)
                self._titles[chat] = display_name(carried[chat])
        self._batch = {}
        missing: list[int] = []
        for pid in wanted:
            self._lookups += 1
            if pid in carried:
                # The batch's copy is the freshest (names change); it also refreshes the LRU.
                self._from_batch += 1
                name = display_name(carried[pid])
                self._remember(pid, name)
            elif pid in self._cache:
                self._hits += 1
                self._cache.move_to_end(pid)
                name = self._cache[pid]
            else:
                self._misses += 1
                missing.append(pid)
                continue
            self._batch[pid] = name
        if missing:
            self._network_calls += 1
            found = await self._resolver(missing)
            for pid in missing:
                entity = found.get(pid)
                if entity is None:
                    log.debug("sender %s could not be resolved; shown by id", pid)
                    continue
                self._resolved += 1
                name = display_name(entity)
                self._remember(pid, name)
                self._batch[pid] = name

    def name_of(self, message: object) -> str:
        """The sender's display name; never touches the network."""
        if getattr(message, "post", False):
            author = (getattr(message, "post_author", None) or "").strip()
            if author:
                return author
        sender = self._sender_of(message)
        if sender is None:
            # Anonymous group admins and channel posts without a signature speak as the chat.
            chat = getattr(message, "chat_id", None)
            if chat is not None and (title := self._titles.get(chat) or self._cache.get(chat)):
                return title
            author = (getattr(message, "post_author", None) or "").strip()
            return author or "Unknown sender"
        name = self._batch.get(sender) or self._cache.get(sender)
        if name is not None:
            return name
        return f"User {utils.resolve_id(sender)[0]}"

    def stats(self) -> dict:
        return {
            "lookups": self._lookups,
            "hits": self._hits,
            "from_batch": self._from_batch,
            "misses": self._misses,
            "network_calls": self._network_calls,
            "resolved": self._resolved,
            "cached": len(self._cache),
        }
