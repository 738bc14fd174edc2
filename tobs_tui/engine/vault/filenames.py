"""File and folder names for the vault: every name from Telegram is hostile input.

Names come out valid on Linux, macOS and Windows, safe in Obsidian links, and can never leave the export dir.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import re
import stat
import unicodedata
from pathlib import Path

# Bidi overrides/isolates and marks reorder what the user sees ("gpj.exe" shown as "exe.jpg").
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# Path separators, Windows-invalid characters, and the characters that break Obsidian wikilinks
# (a backtick, `$` or `%` would otherwise force the renderer's percent-encoded Markdown-link fallback).
_REPLACED = frozenset('/\\:*?"<>|[]#^`$%')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{c}" for c in "123456789\u00b9\u00b2\u00b3"}
    | {f"LPT{c}" for c in "123456789\u00b9\u00b2\u00b3"}
)
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
# What Obsidian opens as a note (Markdown, Canvas, Bases), in any case: a media file named so would become a live
# note of the vault (in its search, graph and link resolution), so it gets ".txt" after its own extension.
_NOTE_EXTENSIONS = frozenset({".md", ".markdown", ".canvas", ".base"})
_MIN_BYTES = 16

# Fixed so a file name never depends on the machine's /etc/mime.types (a resumed run must name files the same).
_MIME_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/x-wav": ".wav",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/x-tgsticker": ".tgs",
    "application/json": ".json",
    "text/plain": ".txt",
}
_KIND_EXTENSIONS = {"photo": ".jpg", "voice": ".ogg", "round": ".mp4", "sticker": ".webp"}
# Python's built-in table only (no system files), so the answer is the same on every machine.
_BUILTIN_MIME = mimetypes.MimeTypes(filenames=())


class UnsafePathError(Exception):
    """A path would leave the export dir or pass through a symlink inside it."""


def _clean(name: str, max_bytes: int) -> str:
    name = unicodedata.normalize("NFC", name)
    out = []
    for ch in name:
        cat = unicodedata.category(ch)
        if ch in _BIDI or cat == "Cs":
            continue
        if cat in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif ch in _REPLACED:
            out.append("_")
        else:
            out.append(ch)
    name = _SPACES.sub(" ", "".join(out)).strip(" ")
    name = name.lstrip(". ")
    name = _truncate(name, max_bytes).rstrip(". ")
    stem, dot, rest = name.partition(".")
    if stem.rstrip(" ").upper() in _WINDOWS_RESERVED:
        # A suffix on the stem: "CON.txt" -> "CON_.txt"; the result is never reserved again.
        name = stem.rstrip(" ") + "_" + dot + rest
    return name


def _truncate(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    cut = encoded[:max_bytes].decode("utf-8", errors="ignore")
    # Do not leave a combining mark without its base, or half of an emoji ZWJ sequence.
    while cut and (unicodedata.combining(cut[-1]) or cut[-1] in "\u200d\ufe0f"):
        cut = cut[:-1]
    return cut


def _sanitize_or_empty(name: str, max_bytes: int) -> str:
    if max_bytes < _MIN_BYTES:
        raise ValueError(f"max_bytes must be at least {_MIN_BYTES}")
    result = name
    # NFC after truncation or a stripped character can expose new trailing dots; a few rounds reach the fixed point.
    for _ in range(4):
        cleaned = _clean(result, max_bytes)
        if cleaned == result:
            break
        result = cleaned
    return result


def sanitize_component(name: str, *, max_bytes: int = 120, fallback: str = "untitled") -> str:
    """One path component valid on every OS and in Obsidian links; idempotent; never empty, "." or ".."."""
    return _sanitize_or_empty(name, max_bytes) or _sanitize_or_empty(fallback, max_bytes) or "untitled"


def _with_id(title: str, suffix: str) -> str:
    return sanitize_component(title, max_bytes=120 - len(suffix.encode()), fallback="Untitled") + suffix


def chat_dir_name(title: str, chat_id: int) -> str:
    """ "Title (id)": the id keeps two chats with one title apart, also on case-insensitive file systems."""
    return _with_id(title, f" ({chat_id})")


def topic_dir_name(title: str, topic_id: int) -> str:
    return _with_id(title, f" ({topic_id})")


def extension_for(mime_type: str | None, kind: str) -> str:
    """The file extension for a MIME type ("" when unknown), from fixed tables only."""
    if mime_type:
        mime = mime_type.split(";", 1)[0].strip().lower()
        ext = _MIME_EXTENSIONS.get(mime) or _BUILTIN_MIME.guess_extension(mime, strict=False)
        if ext:
            return ext
    return _KIND_EXTENSIONS.get(kind, "")


def media_file_name(msg_id: int, original: str | None, kind: str, mime_type: str | None) -> str:
    """ "<msg id>_<sanitised original>" or "<msg id>_<kind><ext>"; truncation keeps the extension."""
    prefix = f"{msg_id}_"
    budget = 120 - len(prefix)
    if original:
        clean = _sanitize_or_empty(original, max(_MIN_BYTES, len(original.encode("utf-8", "surrogatepass"))))
        if clean:
            match = _EXTENSION.search(clean)
            ext = match.group(0) if match else ""
            stem = clean[: len(clean) - len(ext)] if ext else clean
            if ext.lower() in _NOTE_EXTENSIONS:
                ext += ".txt"
            if len((stem + ext).encode()) > budget:
                stem = _truncate(stem, budget - len(ext.encode())).rstrip(". ")
            if stem:
                return prefix + sanitize_component(stem + ext, max_bytes=budget)
    kind_part = sanitize_component(kind or "file", max_bytes=32, fallback="file")
    ext = extension_for(mime_type, kind)
    return prefix + kind_part + (ext + ".txt" if ext.lower() in _NOTE_EXTENSIONS else ext)


def numbered_name(name: str, n: int, *, max_bytes: int = 120) -> str:
    """ "<stem> (n)<ext>": the n-th name to try when a file's own name is taken by something the export did not
    write ("122_Plan.pdf" -> "122_Plan (2).pdf"); the extension stays last and the result within max_bytes."""
    return tagged_name(name, str(n), max_bytes=max_bytes)


def tagged_name(name: str, tag: str, *, max_bytes: int = 120) -> str:
    """ "<stem> (tag)<ext>", the extension last and the result within max_bytes."""
    match = _EXTENSION.search(name)
    ext = match.group(0) if match and match.start() > 0 else ""
    tag = f" ({tag})"
    stem = _truncate(name[: len(name) - len(ext)], max_bytes - len((tag + ext).encode())).rstrip(". ")
    return stem + tag + ext


def symlink_refused(path: str | os.PathLike[str]) -> UnsafePathError:
    return UnsafePathError(
        f"{path} is a symlink inside the export dir; refusing to write through it, "
        "so remove the link and run the export again."
    )


def hard_link_refused(path: str | os.PathLike[str], links: int) -> UnsafePathError:
    return UnsafePathError(
        f"{path} shares its bytes with {links - 1} other hard link{'s' if links > 2 else ''}, so writing to it"
        " would change a file elsewhere too; refusing to, so replace it with a copy of its own and run the"
        " export again."
    )


def refuse_links(path: str | os.PathLike[str]) -> None:
    """A file the engine is about to write through a library that opens it itself (SQLite): it must not be a
    symlink or have other hard links. A missing file is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise symlink_refused(path)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(path))
    if st.st_nlink > 1:
        raise hard_link_refused(path, st.st_nlink)


def open_for_writing(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """os.open for a file of the vault the engine writes: never through a symlink (O_NOFOLLOW), and never a
    file with other hard links (its bytes are also another name's, maybe outside the vault)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise symlink_refused(path) from None
        raise
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):  # a folder's link count is its subfolders, not other names of its bytes
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(path))
    if st.st_nlink > 1:
        os.close(fd)
        raise hard_link_refused(path, st.st_nlink)
    return fd


def is_plain_file(root: Path, rel: str) -> bool:
    """A regular file at the vault-relative `rel`, reached through no link (an unsafe path is none)."""
    try:
        return stat.S_ISREG(os.lstat(safe_path(root, rel)).st_mode)
    except (UnsafePathError, OSError, ValueError):
        return False


def safe_path(root: Path, *parts: str) -> Path:
    """Join sanitised, "/"-separated parts under root; refuse escapes and any symlink below root."""
    components: list[str] = []
    for part in parts:
        for comp in part.split("/"):
            if comp in ("", ".", "..") or "\\" in comp or "\x00" in comp:
                raise UnsafePathError(f"{part!r} is not a safe vault-relative path")
            components.append(comp)
    if not components:
        raise UnsafePathError("an empty path names the export dir itself")
    # Plain strings until the end: the commit of every batch calls this for each file it appends to.
    root_s = os.fspath(root)
    current = root_s
    for comp in components:
        current = os.path.join(current, comp)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            break  # nothing below a missing component can be a planted link yet
        if stat.S_ISLNK(mode):
            raise symlink_refused(current)
    path = os.path.join(root_s, *components)
    absolute_root = os.path.abspath(root_s)
    if os.path.commonpath([absolute_root, os.path.abspath(path)]) != absolute_root:
        raise UnsafePathError(f"{path} is outside the export dir {root_s}")
    return Path(path)
