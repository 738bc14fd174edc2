"""A chat's index note is shared with its user: the engine rewrites its front matter keys and the part between its
markers, and every other byte a person wrote there stays where they put it, run after run, also in a note an
earlier version wrote without markers."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from tobs_tui.engine.render.notes import INDEX_BEGIN, INDEX_END, index_note

DIR = "Book Club (-1001)"
MONTHS = [f"{DIR}/2024/2024-03.md", f"{DIR}/2024/2024-04.md"]
MORE = [*MONTHS, f"{DIR}/2024/2024-05.md"]

# What the version before markers wrote for a chat of two month notes (byte for byte).
OLD_VERSION = (
    "---\nid: -1001\ntype: supergroup\ntitle: \"Book Club\"\nusername: null\nexported_range: [1, 40]\n"
    "messages: 40\nlast_export: \"2023-11-14T22:13:20+00:00\"\n---\n\n# Book Club\n\n"
    f"- [[{DIR}/2024/2024-03|2024/2024-03]]\n- [[{DIR}/2024/2024-04|2024/2024-04]]\n"
)


def render(old: str | None = None, *, notes=MONTHS, last_id: int = 40, title: str = "Book Club") -> str:
    return index_note(
        chat_id=-1001,
        kind="supergroup",
        title=title,
        username=None,
        first_id=1,
        last_id=last_id,
        message_count=last_id,
        last_export=1_700_000_000.0 + last_id,
        dir_name=DIR,
        notes=notes,
        old=old,
    )


def region(text: str) -> str:
    return text[text.index(INDEX_BEGIN) : text.index(INDEX_END) + len(INDEX_END) + 1]


def test_a_new_note_holds_its_front_matter_then_the_marked_part():
    text = render()
    assert text.startswith("---\nid: -1001\ntype: supergroup\ntitle: \"Book Club\"\n")
    assert "\nexported_range: [1, 40]\nmessages: 40\n" in text
    assert text.endswith(
        f"---\n\n{INDEX_BEGIN}\n# Book Club\n\n- [[{DIR}/2024/2024-03|2024/2024-03]]\n"
        f"- [[{DIR}/2024/2024-04|2024/2024-04]]\n\n{INDEX_END}\n"
    )
    # The markers are Obsidian comments: reading view hides them.
    assert INDEX_BEGIN.startswith("%%") and INDEX_BEGIN.endswith("%%") and INDEX_END.startswith("%%")
    assert render(render()) == render(), "a run over the engine's own note writes the same bytes"


def test_text_before_between_and_after_the_engines_parts_survives_every_run():
    note = render()
    note = note.replace(
        "last_export:", "tags:\n  - books\n  - friends\naliases: [Club]\nlast_export:"
    )  # keys of the user's own, between the engine's
    note = note.replace(f"\n{INDEX_BEGIN}", f"\nMy intro, above the list.\n\n{INDEX_BEGIN}")
    note += "\n## My summary\nWe read *Alice* in March.\n"
    again = render(note, notes=MORE, last_id=55)
    assert "tags:\n  - books\n  - friends\naliases: [Club]\nlast_export: \"2023-11-14T22:14:15+00:00\"\n" in again
    assert "\nexported_range: [1, 55]\nmessages: 55\n" in again and "messages: 40" not in again
    assert "---\n\nMy intro, above the list.\n\n" + INDEX_BEGIN in again
    assert (
        f"- [[{DIR}/2024/2024-05|2024/2024-05]]\n\n{INDEX_END}\n\n## My summary\nWe read *Alice* in March.\n" in again
    )
    assert again.count(INDEX_BEGIN) == 1 and again.count("2024/2024-03]]") == 1
    assert render(again, notes=MORE, last_id=55) == again


def test_a_note_written_before_markers_keeps_what_the_user_added_and_drops_only_the_old_list():
    # As the version before markers left it, with the user's text added after it.
    old = OLD_VERSION + "\n## My summary\nINDEX-MARK: where we planned the trip.\n"
    new = render(old, notes=MORE, last_id=55)
    assert new == render(notes=MORE, last_id=55) + "\n## My summary\nINDEX-MARK: where we planned the trip.\n"
    assert render(OLD_VERSION) == render(), "an untouched old note becomes what a new export writes"


def test_an_old_note_whose_list_a_person_changed_is_kept_where_it_cannot_be_told_apart():
    # Their words before the heading: nothing can be told to be the engine's, so every line stays below the part.
    old = OLD_VERSION.replace("\n# Book Club\n", "\nRead this first.\n\n# Book Club\n")
    new = render(old)
    body = old.split("---\n", 2)[2]
    assert new.endswith(f"{INDEX_END}\n" + body), new
    # Their line inside the list: the heading and links before it are the engine's, the rest stays.
    old = OLD_VERSION.replace("2024-03]]\n", "2024-03]]\n- my favourite month\n")
    new = render(old)
    assert new.endswith(f"{INDEX_END}\n\n- my favourite month\n- [[{DIR}/2024/2024-04|2024/2024-04]]\n"), new


def test_deleted_markers_or_a_note_emptied_by_hand_are_recreated_without_losing_text():
    note = render() + "\nmine\n"
    without_end = note.replace(f"{INDEX_END}\n", "")
    assert render(without_end) == note, "the engine's lines after the begin marker are its own"
    without_begin = note.replace(f"{INDEX_BEGIN}\n", "")
    assert render(without_begin) == note, "the engine's lines before the end marker are its own"
    # Both markers and the part gone, the front matter too: the text stays, the engine's parts come back on top.
    assert render("Only my words.\n") == render() + "\nOnly my words.\n"
    assert render("") == render()
    # A last line without a line break stays as it was.
    assert render(render() + "\nno newline at the end").endswith(f"{INDEX_END}\n\nno newline at the end")


def test_a_renamed_chat_updates_its_heading_in_an_old_note():
    new = render(OLD_VERSION + "\nmine\n", title="Reading Circle")
    assert "# Reading Circle\n" in new and "# Book Club" not in new
    assert new.endswith(f"{INDEX_END}\n\nmine\n")


def test_bytes_that_are_not_utf8_and_crlf_lines_survive():
    mine = b"caf\xe9 notes\r\nsecond line\r\n".decode("utf-8", "surrogateescape")
    again = render(render() + mine, notes=MORE)
    assert again.endswith(f"{INDEX_END}\n" + mine)
    assert again.encode("utf-8", "surrogateescape").endswith(b"caf\xe9 notes\r\nsecond line\r\n")


LINE = st.text(alphabet=string.ascii_letters + string.digits + " #-*[]|%:!_/", max_size=40)
LINES = st.lists(LINE, max_size=5).map(lambda ls: "".join(line + "\n" for line in ls))


@settings(max_examples=200, deadline=None)
@given(before=LINES, after=LINES, key=st.sampled_from(["tags: [a, b]", "rating: 5", "aliases:\n  - x"]))
def test_any_text_a_person_writes_outside_the_markers_is_kept_byte_for_byte(before, after, key):
    note = render()
    head, rest = note.split(f"{INDEX_BEGIN}\n", 1)
    tail = rest.split(f"{INDEX_END}\n", 1)[1]
    head = head.replace("\n---\n", f"\n{key}\n---\n", 1)
    edited = f"{head}{before}{INDEX_BEGIN}\n{rest.split(INDEX_END)[0]}{INDEX_END}\n{tail}{after}"
    new = render(edited, notes=MORE, last_id=55)
    assert f"\n{key}\n---\n" in new
    assert new.split("---\n", 2)[2] == f"\n{before}{region(render(notes=MORE, last_id=55))}{after}"


def test_a_note_that_starts_with_a_byte_order_mark_keeps_its_properties_in_the_front_matter():
    """An editor on Windows saves the note with a BOM: its front matter is still the one the engine updates."""
    mine = render().replace("messages: 40\n", "messages: 40\ntags: [club]\n")
    again = render("\ufeff" + mine, notes=MORE, last_id=50)
    assert again.startswith("\ufeff---\nid: -1001\n")
    matter = again.split("---\n")[1]
    assert "tags: [club]\n" in matter and "messages: 50\n" in matter
    assert again.count("---\n") == 2 and again.count(INDEX_BEGIN) == 1
