"""World files (.toml or .json, docs/WORLD.md): reading one, the keys each section may have, and the
ready-made worlds of `World.synthetic` written as the same data."""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from .content import HOSTILE_TITLE, TOPIC_TITLES
from .specs import mix


class WorldFileError(ValueError):
    """A world file the user wrote is wrong; the message says what and how to fix it."""


# What each key may hold: only values the emulator can serve as Telegram would, so a world file that loads is a
# world the server can answer about (a numeric title or an id past 64 bits would fail on every reply instead).
_WHOLE, _NUMBER, _TEXT, _FLAG, _TEXTS, _WHOLES = "whole", "number", "text", "flag", "texts", "wholes"
_USERNAME = "username"
# Telegram's rule for a public username: 5-32 characters of a-z, 0-9 and _, starting with a letter, not ending in _.
USERNAME_RULE = "a Telegram username: 5 to 32 letters (a-z), digits or underscores, starting with a letter"
_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9]")
# Telegram ids have at most 52 significant bits; a basic group's or channel's raw id must stay below the 10^12 of
# the marked ids (-100…), or it reads as another kind of chat.
_MAX_USER_ID = 2**52 - 1
_MAX_CHAT_ID = 10**12 - 1
_MAX_MESSAGE_ID = 2**31 - 1  # message ids are 32-bit
_TOP: dict[str, tuple] = {
    "seed": (_WHOLE, 0, 2**64 - 1),
    "max_file_size": (_WHOLE, 1, 4 * 1024**3),
    "generated_users": (_WHOLE, 0, 100_000),
    "self": None,
    "users": None,
    "chats": None,
}
_SELF: dict[str, tuple] = {"first_name": (_TEXT,), "last_name": (_TEXT,), "username": (_USERNAME,)}
_USER: dict[str, tuple] = {
    "id": (_WHOLE, 1, _MAX_USER_ID),
    "first_name": (_TEXT,),
    "last_name": (_TEXT,),
    "username": (_USERNAME,),
    "phone": (_TEXT,),
    "deleted": (_FLAG,),
    "bot": (_FLAG,),
}
_CHAT: dict[str, tuple] = {
    "kind": (_TEXT,),
    "title": (_TEXT,),
    "user": (_WHOLE, 1, _MAX_USER_ID),
    "messages": (_WHOLE, 1, _MAX_MESSAGE_ID),
    "media": (_NUMBER, 0.0, 1.0),
    "members": (_WHOLES, 1, _MAX_USER_ID),
    "username": (_USERNAME,),
    "signatures": (_FLAG,),
    "topics": (_TEXTS,),
    "span_days": (_NUMBER, 0.001, 20_000.0),
    "hostile": (_FLAG,),
    "repeat": (_WHOLE, 1, 100_000),
    "id": (_WHOLE, 1, _MAX_CHAT_ID),
}
_SEE = "see docs/WORLD.md"
_TOP_WHERE = "the world file"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text_fault(value: Any) -> str | None:
    if not isinstance(value, str):
        return "text"
    surrogate = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
    if surrogate is not None:
        return f"text Telegram can send (it holds a lone surrogate, \\u{ord(surrogate):04x})"
    return None


def _whole_fault(value: Any, lo: int, hi: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return f"a whole number from {lo:,} to {hi:,}"
    return None


def _fault(value: Any, spec: tuple) -> str | None:
    """What `value` should have been, or None when it fits `spec`."""
    kind = spec[0]
    if kind == _TEXT:
        return _text_fault(value)
    if kind == _USERNAME:
        ok = isinstance(value, str) and _USERNAME_RE.fullmatch(value) is not None
        return None if ok else f"{USERNAME_RULE} and not ending in one"
    if kind == _FLAG:
        return None if isinstance(value, bool) else "true or false"
    if kind == _WHOLE:
        return _whole_fault(value, spec[1], spec[2])
    if kind == _NUMBER:
        lo, hi = spec[1], spec[2]
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok and lo <= value <= hi else f"a number from {lo:g} to {hi:g}"
    if not isinstance(value, list):
        return "a list of text" if kind == _TEXTS else "a list of user ids"
    for item in value:
        fault = _text_fault(item) if kind == _TEXTS else _whole_fault(item, spec[1], spec[2])
        if fault:
            return f"a list of {'text' if kind == _TEXTS else 'user ids'}, each {fault}"
    return None


def _check_table(section: Any, specs: dict[str, tuple | None], where: str) -> None:
    """A misspelt key would silently do nothing, and a value of the wrong kind would fail in the server later."""
    if not isinstance(section, dict):
        raise WorldFileError(f"In the world file, {where} must be a table of keys, not {_shown(section)}; {_SEE}.")
    unknown = sorted(set(section) - set(specs))
    if unknown:
        place = "at the top of the world file" if where == _TOP_WHERE else f"in {where} of the world file"
        raise WorldFileError(f"Unknown key {unknown[0]!r} {place}; known keys: {', '.join(sorted(specs))}.")
    for key, spec in specs.items():
        if spec is not None and key in section:
            fault = _fault(section[key], spec)
            if fault:
                owner = "" if where == _TOP_WHERE else f" of {where}"
                raise WorldFileError(
                    f"In the world file, {key!r}{owner} must be {fault}, not {_shown(section[key])}; {_SEE}."
                )


def _list_of_tables(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise WorldFileError(f"In the world file, {key!r} must be a list of tables, not {_shown(value)}; {_SEE}.")
    return value


def read_world_file(path: str | Path) -> dict[str, Any]:
    """The data of a world file (.toml or .json), or one sentence saying why it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise WorldFileError(
            f"The world file {path} is neither .toml nor .json; world files are TOML or JSON ({_SEE}), "
            "so write it in one of them and name it so."
        )
    try:
        # utf-8-sig: a byte order mark, which Windows editors write, says nothing and goes.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise WorldFileError(f"Cannot read the world file {path}: {exc.strerror}; check the path.") from exc
    except UnicodeDecodeError as exc:
        raise WorldFileError(
            f"The world file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8."
        ) from exc
    try:
        data = json.loads(text, parse_constant=_no_constant) if suffix == ".json" else tomllib.loads(text)
    except RecursionError:
        raise WorldFileError(f"The world file {path} is nested too deeply to read; fix the file.") from None
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors too
        if "integer string conversion" in str(exc):
            raise WorldFileError(
                f"The world file {path} holds a number too large to read (more than 4300 digits); fix the file."
            ) from None
        raise WorldFileError(f"The world file {path} is not valid {suffix[1:].upper()}: {exc}.") from exc
    if _nesting_depth(data) > _MAX_NESTING:
        raise WorldFileError(
            f"The world file {path} is nested too deeply (more than {_MAX_NESTING} levels); fix the file."
        )
    return data


# No key nests deeper than a list in a chat; a file nested far deeper is refused before anything walks it, so no
# check or message about it can run out of stack.
_MAX_NESTING = 32


def _nesting_depth(value: Any, limit: int = _MAX_NESTING) -> int:
    """How deeply lists and tables nest in `value` (a scalar is 0), counted level by level without recursion and
    no further than `limit` + 1."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            break
        depth += 1
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]
    return depth


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def check_sections(data: Any) -> None:
    """Every section of a world file holds only known keys, each with a value the emulator can serve."""
    if _nesting_depth(data) > _MAX_NESTING:
        raise WorldFileError(f"The world file is nested too deeply (more than {_MAX_NESTING} levels); fix the file.")
    if not isinstance(data, dict):
        raise WorldFileError(f"A world file holds a table of keys at the top, not {_shown(data)}; {_SEE}.")
    _check_table(data, _TOP, _TOP_WHERE)
    _check_table(data.get("self", {}), _SELF, "[self]")
    for n, raw in enumerate(_list_of_tables(data, "users"), 1):
        _check_table(raw, _USER, f"user {n}")
    for n, raw in enumerate(_list_of_tables(data, "chats"), 1):
        _check_table(raw, _CHAT, f"chat {n}")


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
