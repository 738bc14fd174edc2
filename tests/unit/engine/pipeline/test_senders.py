"""SenderPreloader and display_name on real Telethon TL objects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telethon import utils
from telethon.tl import types

from tobs_tui.engine.pipeline.senders import SenderPreloader
from tobs_tui.engine.telegram.entities import display_name

WHEN = datetime(2024, 5, 1, tzinfo=UTC)
GROUP = types.Channel(
    id=500, title="Night Owls", photo=types.ChatPhotoEmpty(), date=WHEN, megagroup=True, access_hash=1
)
NEWS = types.Channel(id=600, title="Daily News", photo=types.ChatPhotoEmpty(), date=WHEN, broadcast=True, access_hash=2)


def user(
    uid: int, first: str | None = None, last: str | None = None, username: str | None = None, deleted: bool = False
) -> types.User:
    return types.User(id=uid, first_name=first, last_name=last, username=username, deleted=deleted, access_hash=uid * 7)


def msg(mid: int, sender: int | None, peer=types.PeerChannel(500), **kw) -> types.Message:
    return types.Message(
        id=mid,
        peer_id=peer,
        date=WHEN,
        message=f"m{mid}",
        from_id=types.PeerUser(sender) if sender is not None else None,
        **kw,
    )


class Resolver:
    def __init__(self, known: dict[int, object]) -> None:
        self.known = known
        self.calls: list[list[int]] = []

    async def __call__(self, ids: list[int]) -> dict[int, object]:
        self.calls.append(list(ids))
        return {i: self.known[i] for i in ids if i in self.known}


@pytest.mark.parametrize(
    "entity, name",
    [
        (user(1, "Ada", "Lovelace", "ada"), "Ada Lovelace"),
        (user(2, "Ada"), "Ada"),
        (user(3, None, "Lovelace"), "Lovelace"),
        (user(4, "  ", None, "handle"), "@handle"),
        (user(5, deleted=True), "Deleted Account"),
        (user(6), "User 6"),
        (GROUP, "Night Owls"),
        (types.ChatForbidden(id=9, title="Gone Group"), "Gone Group"),
        (types.User(id=7, usernames=[types.Username("old", active=False), types.Username("new", active=True)]), "@new"),
    ],
)
def test_display_name_rules(entity, name):
    assert display_name(entity) == name


async def test_500_messages_from_50_senders_resolve_once_with_one_network_call():
    users = {i: user(i, f"First{i}", f"Last{i}") for i in range(1, 51)}
    carried = {i: u for i, u in users.items() if i > 10}  # senders 1..10 not in the batch
    resolver = Resolver({i: users[i] for i in range(1, 11)})
    pre = SenderPreloader(resolver)
    batch = [msg(n, 1 + n % 50) for n in range(500)]
    await pre.preload(batch, {**carried, utils.get_peer_id(GROUP): GROUP})
    assert resolver.calls == [list(range(1, 11))]  # one call, only the missing ids
    assert pre.stats() == {
        "lookups": 50,
        "hits": 0,
        "from_batch": 40,
        "misses": 10,
        "network_calls": 1,
        "resolved": 10,
        "cached": 50,
    }
    assert [pre.name_of(m) for m in batch[:3]] == ["First1 Last1", "First2 Last2", "First3 Last3"]
    assert {pre.name_of(m) for m in batch} == {f"First{i} Last{i}" for i in range(1, 51)}
    assert pre.stats()["network_calls"] == 1  # naming never goes to the network


async def test_next_batch_hits_the_cache_and_makes_no_call():
    resolver = Resolver({1: user(1, "Ann"), 2: user(2, "Bob")})
    pre = SenderPreloader(resolver)
    await pre.preload([msg(1, 1), msg(2, 2)], {})
    await pre.preload([msg(3, 1), msg(4, 2), msg(5, 1)], {})
    assert len(resolver.calls) == 1
    s = pre.stats()
    assert (s["lookups"], s["hits"], s["network_calls"]) == (4, 2, 1)


async def test_batch_entities_refresh_a_renamed_sender():
    pre = SenderPreloader(Resolver({}))
    await pre.preload([msg(1, 1)], {1: user(1, "Old")})
    await pre.preload([msg(2, 1)], {1: user(1, "New")})
    assert pre.name_of(msg(2, 1)) == "New"


async def test_no_call_when_the_batch_carries_everyone():
    resolver = Resolver({})
    pre = SenderPreloader(resolver)
    await pre.preload([msg(1, 1)], {1: user(1, "Ann")})
    assert resolver.calls == []
    await pre.preload([], {})
    assert resolver.calls == []


async def test_unresolvable_sender_is_named_by_id():
    pre = SenderPreloader(Resolver({}))
    await pre.preload([msg(1, 42)], {})
    assert pre.name_of(msg(1, 42)) == "User 42"
    assert pre.stats()["resolved"] == 0


async def test_lru_bound_holds_and_evicts_least_recent():
    resolver = Resolver({i: user(i, f"U{i}") for i in range(100)})
    pre = SenderPreloader(resolver, cache_size=5)
    batch = [msg(i, i) for i in range(20)]
    await pre.preload(batch, {})
    assert pre.stats()["cached"] == 5
    # The whole last batch still has names even though the LRU kept only 5.
    assert [pre.name_of(m) for m in batch] == [f"U{i}" for i in range(20)]
    await pre.preload([msg(1, 19)], {})  # 19 is still cached: a hit
    assert len(resolver.calls) == 1
    await pre.preload([msg(1, 0)], {})  # 0 was evicted: a new call
    assert resolver.calls[-1] == [0]
    assert pre.stats()["cached"] == 5
    with pytest.raises(ValueError):
        SenderPreloader(resolver, cache_size=0)


async def test_channel_posts_use_the_signature_else_the_channel_title():
    pre = SenderPreloader(Resolver({}))
    news = types.PeerChannel(600)
    signed = msg(1, None, peer=news, post=True, post_author="Jane Editor")
    unsigned = msg(2, None, peer=news, post=True)
    await pre.preload([signed, unsigned], {utils.get_peer_id(NEWS): NEWS})
    assert pre.name_of(signed) == "Jane Editor"
    assert pre.name_of(unsigned) == "Daily News"
    assert pre.stats()["network_calls"] == 0


async def test_a_chat_renamed_between_batches_is_named_by_the_newer_batch():
    """The title is read once per batch (not once per message), and again from each batch's own copy."""
    pre = SenderPreloader(Resolver({}))
    news = types.PeerChannel(600)
    first = [msg(i, None, peer=news, post=True) for i in (1, 2)]
    await pre.preload(first, {utils.get_peer_id(NEWS): NEWS})
    assert pre.name_of(first[1]) == "Daily News"
    renamed = types.Channel(id=600, title="Evening News", photo=types.ChatPhotoEmpty(), date=WHEN, access_hash=2)
    later = msg(3, None, peer=news, post=True)
    await pre.preload([later], {utils.get_peer_id(NEWS): renamed})
    assert pre.name_of(later) == "Evening News"


async def test_anonymous_admin_speaks_as_the_group():
    pre = SenderPreloader(Resolver({}))
    anon = msg(1, None, post_author="Boss")
    await pre.preload([anon], {500: GROUP})  # keyed by raw id: re-keyed
    assert pre.name_of(anon) == "Night Owls"


async def test_private_chat_messages_name_the_peer_and_ourselves():
    me, friend = user(10, "Me"), user(20, "Friend")
    pre = SenderPreloader(Resolver({}), self_id=10)
    incoming = msg(1, None, peer=types.PeerUser(20))
    outgoing = msg(2, None, peer=types.PeerUser(20), out=True)
    await pre.preload([incoming, outgoing], {10: me, 20: friend})
    assert (pre.name_of(incoming), pre.name_of(outgoing)) == ("Friend", "Me")


async def test_service_messages_and_deleted_senders():
    service = types.MessageService(
        id=5,
        peer_id=types.PeerChannel(500),
        date=WHEN,
        action=types.MessageActionChatJoinedByLink(inviter_id=1),
        from_id=types.PeerUser(66),
    )
    pre = SenderPreloader(Resolver({66: user(66, deleted=True)}))
    await pre.preload([service], {})
    assert pre.name_of(service) == "Deleted Account"


async def test_resolver_errors_propagate():
    async def broken(ids):
        raise ConnectionError("network down")

    pre = SenderPreloader(broken)
    with pytest.raises(ConnectionError):
        await pre.preload([msg(1, 1)], {})
