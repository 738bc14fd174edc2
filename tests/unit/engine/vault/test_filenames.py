"""Hostile Telegram names become safe, distinct, stable path components that never leave the export dir."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tobs_tui.engine.vault.filenames import (
    UnsafePathError,
    chat_dir_name,
    media_file_name,
    numbered_name,
    safe_path,
    sanitize_component,
    topic_dir_name,
)

HOSTILE = [
    "../../etc/passwd",
    "..\\..\\windows\\system32",
    "/etc/passwd",
    "CON.txt",
    "con",
    "nul.tar.gz",
    "COM1",
    "lpt9 .md",
    "AUX .",
    "a/b\\c",
    "x\x00y",
    "\u202egpj.exe",
    "\u2066isolated\u2069\u200e\u200f",
    "bell\x07tab\tnewline\nreturn\r",
    "x" * 300,
    "я" * 300,
    "🙂" * 100,
    "..",
    ".",
    "",
    " ",
    "...",
    ". .",
    ".hidden",
    "trailing dot.",
    "trailing space ",
    "👨\u200d👩\u200d👧 family",
    "e\u0301\u0301\u0301 combining",
    "\u0301 leading combining",
    "e\u0301" * 100,
    'what: *?"<>|',
    "[[wiki]] #tag ^block |pipe",
    "\ud800 lone surrogate",
    "\u2028line\u2029para",
    "Ａ full width",
]

FORBIDDEN = set('/\\:*?"<>|[]#^\x00') | {chr(c) for c in range(32)} | {"\x7f"}
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in "123456789¹²³"}


def assert_safe_component(name: str, max_bytes: int = 120) -> None:
    assert name, "empty component"
    assert name not in (".", "..")
    assert not name.startswith(".")
    assert not name.endswith((".", " "))
    assert not (set(name) & FORBIDDEN), name
    assert not (set(name) & BIDI), name
    assert len(name.encode("utf-8")) <= max_bytes
    assert unicodedata.normalize("NFC", name) == name
    assert name.split(".")[0].rstrip(" ").upper() not in RESERVED
    name.encode("utf-8")  # no lone surrogates


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_become_safe_and_stable(name):
    clean = sanitize_component(name)
    assert_safe_component(clean)
    assert sanitize_component(clean) == clean


def test_specific_rewrites():
    assert sanitize_component("CON.txt") == "CON_.txt"
    assert sanitize_component("lpt1") == "lpt1_"
    assert sanitize_component("..") == "untitled"
    assert sanitize_component("", fallback="Chat") == "Chat"
    assert sanitize_component("\u202egpj.exe") == "gpj.exe"
    assert sanitize_component("a/b\\c") == "a_b_c"
    assert sanitize_component("../../etc/passwd") == "_.._etc_passwd"
    assert sanitize_component("Café") == "Café"  # ordinary names are left alone
    assert sanitize_component("e\u0301") == "\u00e9"  # NFC


def test_truncation_keeps_characters_whole():
    clean = sanitize_component("я" * 300, max_bytes=121)
    assert clean == "я" * 60
    emoji = sanitize_component("🙂" * 100, max_bytes=30)
    assert emoji == "🙂" * 7
    combined = sanitize_component("e\u0301" * 100, max_bytes=21)
    assert combined == "\u00e9" * 10


def test_hostile_names_never_escape_the_export_dir(tmp_path):
    root = tmp_path / "vault"
    root.mkdir()
    for name in HOSTILE:
        path = safe_path(
            root, chat_dir_name(name, 1), topic_dir_name(name, 2), media_file_name(3, name, "document", None)
        )
        resolved = path.resolve()
        assert resolved.is_relative_to(root.resolve())
        assert len(path.relative_to(root).parts) == 3


def test_equal_titles_never_collide_and_ids_survive_truncation():
    names = {chat_dir_name("Family", cid) for cid in (1, 2, -1001, -1002, 10**12)}
    assert len(names) == 5
    long = chat_dir_name("x" * 500, -1001234567890)
    assert long.endswith(" (-1001234567890)") and len(long.encode()) <= 120
    assert chat_dir_name("..", 7) == "Untitled (7)"
    # Case-insensitive file systems: titles differing by case with one id are the same chat anyway;
    # different ids differ in digits, which case folding leaves alone.
    assert chat_dir_name("abc", 5).lower() != chat_dir_name("ABC", 6).lower()


def test_media_file_names():
    assert media_file_name(12, "report.pdf", "document", "application/pdf") == "12_report.pdf"
    assert media_file_name(12, None, "photo", None) == "12_photo.jpg"
    assert media_file_name(12, None, "document", "video/mp4") == "12_document.mp4"
    assert media_file_name(12, None, "voice", "audio/ogg; codecs=opus") == "12_voice.ogg"
    assert media_file_name(12, None, "document", "application/x-unknown-thing") == "12_document"
    assert media_file_name(12, "../../evil.sh", "document", None) == "12__.._evil.sh"
    assert media_file_name(12, "..", "document", "application/pdf") == "12_document.pdf"
    long = media_file_name(99, "a" * 400 + ".jpeg", "document", "image/jpeg")
    assert long.startswith("99_a") and long.endswith(".jpeg") and len(long.encode()) <= 120
    assert media_file_name(5, "CON.txt", "document", None) == "5_CON_.txt"


@given(st.text(max_size=400))
@settings(max_examples=400, deadline=None)
def test_any_text_sanitises_to_a_safe_fixed_point(name):
    clean = sanitize_component(name)
    assert_safe_component(clean)
    assert sanitize_component(clean) == clean


@given(st.text(max_size=300), st.integers(min_value=-(10**13), max_value=10**13))
@settings(max_examples=200, deadline=None)
def test_any_media_name_is_one_safe_component(original, msg_id):
    name = media_file_name(msg_id, original, "document", "image/png")
    assert_safe_component(name)
    assert name.startswith(f"{msg_id}_")


def test_safe_path_rejects_traversal_and_empty_parts(tmp_path):
    for bad in ("..", "a/../b", "/abs", "a//b", ".", "a\\b", "x\x00"):
        with pytest.raises(UnsafePathError):
            safe_path(tmp_path, bad)
    with pytest.raises(UnsafePathError):
        safe_path(tmp_path)
    assert safe_path(tmp_path, "a/b", "c") == tmp_path / "a" / "b" / "c"


def test_planted_symlink_inside_the_vault_is_refused(tmp_path):
    root = tmp_path / "vault"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "Chat (1)")
    with pytest.raises(UnsafePathError, match="symlink"):
        safe_path(root, "Chat (1)", "2024", "2024-01.md")
    (root / "real").mkdir()
    os.symlink(outside / "target.md", root / "real" / "note.md")
    with pytest.raises(UnsafePathError, match="symlink"):
        safe_path(root, "real/note.md")
    assert list(outside.iterdir()) == []


def test_a_symlinked_vault_root_is_allowed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    os.symlink(real, link)
    assert safe_path(link, "a.md") == Path(link) / "a.md"


@given(
    st.text(max_size=300),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.integers(min_value=-(10**13), max_value=10**13),
)
@settings(max_examples=200, deadline=None)
def test_chat_dirs_are_safe_stable_and_distinct_per_id(title, a, b):
    name = chat_dir_name(title, a)
    assert_safe_component(name)
    assert sanitize_component(name) == name
    assert name.endswith(f" ({a})")
    assert (name == chat_dir_name(title, b)) == (a == b)


@pytest.mark.parametrize(
    "original",
    ["a.md", "A.MD", "Chat (-1001).md", "board.canvas", "view.Base", "r.markdown", "q.md.", "x" * 300 + ".md"],
)
def test_media_files_are_never_notes(original):
    name = media_file_name(101, original, "document", "text/markdown")
    assert name.endswith(".txt") and name.startswith("101_") and len(name.encode()) <= 124


@given(st.text(max_size=60), st.sampled_from(["text/markdown", "application/json", None]))
def test_no_media_file_name_ends_like_a_note(original, mime):
    name = media_file_name(7, original, "document", mime)
    assert not name.lower().endswith((".md", ".markdown", ".canvas", ".base"))


def test_numbered_names_keep_the_extension_last_and_fit():
    assert numbered_name("122_Quarterly Plan 122.pdf", 2) == "122_Quarterly Plan 122 (2).pdf"
    assert numbered_name("132_photo.jpg", 3) == "132_photo (3).jpg"
    assert numbered_name("101_a.md.txt", 2) == "101_a.md (2).txt", "still not a note Obsidian opens"
    assert numbered_name("7_README", 2) == "7_README (2)"
    long = media_file_name(5, "x" * 300 + ".pdf", "document", None)
    numbered = numbered_name(long, 12)
    assert numbered.endswith(" (12).pdf") and len(numbered.encode()) <= 120
    assert sanitize_component(numbered) == numbered
