"""World files (.toml or .json, docs/WORLD.md): reading one, the keys each section may have, and the
ready-made worlds of `World.synthetic` written as the same data."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .content import HOSTILE_TITLE, TOPIC_TITLES
from .specs import mix


class WorldFileError(ValueError):
    """A world file the user wrote is wrong; the message says what and how to fix it."""


_TOP_KEYS = {"seed", "max_file_size", "generated_users", "self", "users", "chats"}
_SELF_KEYS = {"first_name", "last_name", "username"}
_USER_KEYS = {"id", "first_name", "last_name", "username", "phone", "deleted", "bot"}
_CHAT_KEYS = {
    "kind",
    "title",
    "user",
    "messages",
    "media",
    "members",
    "username",
    "signatures",
    "topics",
    "span_days",
    "hostile",
    "repeat",
    "id",
}


def _check_keys(section: Any, known: set[str], where: str) -> None:
    """A misspelt key would silently do nothing, so name it."""
    if not isinstance(section, dict):
        raise WorldFileError(f"In the world file, {where} must be a table of keys; see docs/WORLD.md.")
    unknown = sorted(set(section) - known)
    if unknown:
        raise WorldFileError(
            f"Unknown key {unknown[0]!r} in {where} of the world file; known keys: {', '.join(sorted(known))}."
        )


def read_world_file(path: str | Path) -> dict[str, Any]:
    """The data of a world file (.toml or .json), or one sentence saying why it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorldFileError(f"Cannot read the world file {path}: {exc.strerror}; check the path.") from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise WorldFileError(f"The world file {path} is not valid {path.suffix[1:].upper()}: {exc}.") from exc


def check_sections(data: dict[str, Any]) -> None:
    """Every section of a world file holds only known keys."""
    _check_keys(data, _TOP_KEYS, "the world file")
    _check_keys(data.get("self", {}), _SELF_KEYS, "[self]")
    for raw in data.get("users", []):
        _check_keys(raw, _USER_KEYS, f"user {raw.get('id', '?')}")
    for raw in data.get("chats", []):
        _check_keys(raw, _CHAT_KEYS, f"chat {raw.get('title', raw.get('kind', '?'))!r}")


def synthetic_data(seed: int, scale: str) -> dict[str, Any]:
    """The world-file dict behind World.synthetic, so synthetic worlds and files share one code path."""
    if scale == "test":
        sizes = {"max_file_size": 3 * 1024 * 1024, "generated_users": 24}
        chats: list[dict[str, Any]] = [
            {"kind": "private", "messages": 120, "media": 0.3},
            {"kind": "group", "title": "Family 🏡", "messages": 300, "media": 0.3},
            {
                "kind": "supergroup",
                "title": "Ten Thousand",
                "messages": 10_000,
                "media": 0.05,
                "username": "ten_thousand",
            },
            {"kind": "forum", "title": "Forum HQ", "messages": 400, "media": 0.2, "username": "forum_hq"},
            {"kind": "channel", "title": "News Channel", "messages": 250, "media": 0.3, "username": "news_channel"},
            {"kind": "supergroup", "title": HOSTILE_TITLE, "messages": 50, "hostile": True},
            {"kind": "private", "user": 1005, "messages": 40, "media": 0.1},  # a deleted account
            {"kind": "private", "user": 1007, "messages": 30, "media": 0.0},  # a bot
            {"kind": "private", "messages": 80, "media": 0.2},
            {"kind": "group", "title": "Book club 📚", "messages": 150, "media": 0.1},
            {"kind": "private", "messages": 500, "media": 0.25},
            {"kind": "channel", "title": "Quiet channel", "messages": 60, "media": 0.5, "signatures": False},
        ]
    else:
        # Files stay small and sparse so exporting every demo chat with media fits in a few GB of disk.
        sizes = {"max_file_size": 2 * 1024 * 1024, "generated_users": 60}
        chats = [
            {
                "kind": "supergroup",
                "title": "Engineering",
                "messages": 50_000,
                "media": 0.01,
                "username": "engineering",
            },
            {
                "kind": "forum",
                "title": "Community Forum",
                "messages": 20_000,
                "media": 0.03,
                "topics": list(TOPIC_TITLES),
                "username": "community_forum",
            },
            {"kind": "channel", "title": "Tech News", "messages": 12_000, "media": 0.05, "username": "tech_news"},
            {"kind": "supergroup", "title": HOSTILE_TITLE, "messages": 200, "hostile": True},
            {"kind": "group", "title": "Family 🏡", "messages": 6_000, "media": 0.08},
            {"kind": "channel", "title": "Photo Stream 📷", "messages": 600, "media": 0.9},
        ]
        chats.append({"kind": "private", "user": 1005, "messages": 300, "media": 0.1})  # a deleted account
        chats.append({"kind": "private", "user": 1007, "messages": 200, "media": 0.0})  # a bot
        for i in range(20):
            chats.append({"kind": "private", "messages": 1_000 + (mix(seed, 91, i) % 9_000), "media": 0.01})
        for i in range(8):
            chats.append(
                {
                    "kind": ("supergroup", "group")[i % 2],
                    "title": f"Project {chr(65 + i)}",
                    "messages": 2_000 + (mix(seed, 92, i) % 20_000),
                    "media": 0.01,
                }
            )
        for i in range(4):
            chats.append(
                {
                    "kind": "channel",
                    "title": f"Broadcast {i + 1}",
                    "messages": 2_500 + (mix(seed, 93, i) % 10_000),
                    "media": 0.04,
                    "signatures": i % 2 == 0,
                }
            )
        if scale == "big":
            chats.insert(
                1,
                {
                    "kind": "supergroup",
                    "title": "The Million",
                    "messages": 1_000_000,
                    "media": 0.1,
                    "username": "the_million",
                },
            )
    return {"seed": seed, **sizes, "chats": chats}
