"""Telegram users and chats as the vault and the screens name and classify them."""

from __future__ import annotations

from telethon.tl import types

from tobs_tui.engine.snapshot import ChatKind


def display_name(entity: object) -> str:
    """How users and chats are named everywhere.

    A user: "Deleted Account" when deleted, else "First Last", else @username, else "User <id>".
    A group or channel: its title, else @username, else "Chat <id>"."""
    if getattr(entity, "deleted", False):
        return "Deleted Account"
    first = (getattr(entity, "first_name", None) or "").strip()
    last = (getattr(entity, "last_name", None) or "").strip()
    full = f"{first} {last}".strip()
    if full:
        return full
    title = (getattr(entity, "title", None) or "").strip()
    if title:
        return title
    username = getattr(entity, "username", None)
    if not username:
        # Newer layers move a handle into `usernames` when there are several.
        for u in getattr(entity, "usernames", None) or ():
            if getattr(u, "active", False):
                username = u.username
                break
    if username:
        return f"@{username}"
    kind = "User" if isinstance(entity, types.User) else "Chat"
    return f"{kind} {getattr(entity, 'id', '?')}"


def dialog_kind(entity) -> ChatKind:
    if isinstance(entity, types.User):
        return ChatKind.BOT if entity.bot else ChatKind.USER
    if isinstance(entity, types.Channel):
        if getattr(entity, "forum", False):
            return ChatKind.FORUM
        return ChatKind.SUPERGROUP if entity.megagroup else ChatKind.CHANNEL
    return ChatKind.GROUP
