"""How long a login FloodWait asks for, in the words the login screen and the CLI show."""

from __future__ import annotations

from tobs_tui.engine.telegram.login import PHONE, wait_words


def test_waits_read_as_people_say_them():
    assert wait_words(1) == "1 second"
    assert wait_words(2) == "2 seconds"
    assert wait_words(90) == "1 min 30 s"
    assert wait_words(300) == "5 min"
    assert wait_words(12_000) == "3 h 20 min"
    assert wait_words(7_200) == "2 h"


def test_phone_numbers_are_digits_after_an_optional_plus():
    assert PHONE.fullmatch("+15551234567") and PHONE.fullmatch("15551234567")
    assert not PHONE.fullmatch("+1555abc0100") and not PHONE.fullmatch("+1") and not PHONE.fullmatch("+" + "1" * 16)
