"""QR login on the login screen: the code is drawn, another app "scans" it through the emulator, the chat list
follows; with a 2FA account the password step comes next."""

from __future__ import annotations

import asyncio

from textual.widgets import Button, Input, Label

from tests.integration.engine.test_qr_login import log_in_with_phone, scan
from tests.support.waiting import click, wait_until
from tests.ui.test_ui_app import SIZE, submit
from tobs_tui.ui.screens.chats import ChatsScreen
from tobs_tui.ui.screens.login import LoginScreen
from tobs_tui.ui.widgets.dialog_table import DialogTable
from tobs_tui.ui.widgets.qr_code import QrCode, qr_text


def test_qr_text_is_a_drawn_code_that_fits_the_login_box():
    lines = qr_text("tg://login?token=" + "A" * 43).splitlines()
    assert len(lines) <= 20 and max(map(len, lines)) <= 40
    assert set("".join(lines)) <= {"█", "▀", "▄", " "}


async def wait_for_dialogs(pilot, app) -> None:
    # As log_in does: the chat list has loaded before the test ends and the app closes under it.
    await wait_until(pilot, lambda: isinstance(app.screen, ChatsScreen), what="the chat list")
    await wait_until(pilot, lambda: app.screen.query_one(DialogTable).dialog_count > 0, what="dialogs")


async def click_qr_button(pilot, app) -> None:
    """Click "Log in with a QR code" once it is laid out: a click on a button with no region yet lands at the
    top-left corner, on the header's command-palette icon (seen at 80x24 under load)."""
    await click(pilot, "#login-qr")


async def scan_from_screen(pilot, app, session: str) -> None:
    await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="login")
    await click_qr_button(pilot, app)
    qr = app.screen.query_one("#qr-code", QrCode)
    await wait_until(pilot, lambda: qr.data.startswith("tg://login?token="), what="the QR code")
    assert app.screen.step == "qr" and "█" in str(qr.render())
    await asyncio.to_thread(scan, session, qr.data)  # the other app runs its own loop


async def test_log_in_by_scanning_the_qr_code(make_app, emulator):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await scan_from_screen(pilot, app, emulator.session_string(authorized=True))
        await wait_for_dialogs(pilot, app)


async def test_qr_login_with_2fa_asks_for_the_password_next(make_app, emulator):
    world = emulator.world
    scanner = await asyncio.to_thread(log_in_with_phone, emulator, world.twofa_phone, world.twofa_password)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await scan_from_screen(pilot, app, scanner)
        await wait_until(pilot, lambda: app.screen.step == "password", what="the password step")
        await submit(pilot, app, "#password", world.twofa_password)
        await wait_for_dialogs(pilot, app)


async def test_at_80x24_the_whole_code_is_in_view(make_app):
    """Header, the box's heading and one line of instructions leave the code every row above the footer."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="login"
        )
        await click_qr_button(pilot, app)
        qr = app.screen.query_one("#qr-code", QrCode)
        await wait_until(pilot, lambda: qr.data.startswith("tg://login?token="), what="the QR code")
        await pilot.pause()
        footer_row = 23
        assert qr.region.height == len(str(qr.render()).splitlines())
        assert qr.region.y + qr.region.height <= footer_row, qr.region
        assert qr.region.x >= 0 and qr.region.x + qr.region.width <= 80


async def show_qr(pilot, app) -> QrCode:
    await wait_until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="login")
    await click_qr_button(pilot, app)
    qr = app.screen.query_one("#qr-code", QrCode)
    await wait_until(pilot, lambda: qr.data.startswith("tg://login?token="), what="the QR code")
    await pilot.pause()
    return qr


async def test_esc_or_the_back_button_leaves_the_qr_code_for_the_phone_login(make_app, emulator):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await show_qr(pilot, app)
        back = app.screen.query_one("#login-qr-back", Button)
        geo = app.screen.find_widget(back)
        assert geo.region.intersection(geo.clip) == back.region and back.region.bottom <= 23, "in view at 80x24"
        assert "Esc" in str(app.screen.query_one("#qr-side Label", Label).render()), "the screen says how to go back"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.step == "phone", what="the phone step again")
        assert app.screen.query_one("#phone", Input).display and not app.screen.query_one("#step-qr").display
        await show_qr(pilot, app)
        await click(pilot, "#login-qr-back")
        await wait_until(pilot, lambda: app.screen.step == "phone", what="the phone step again")
        await submit(pilot, app, "#phone", emulator.world.demo_phone)  # the phone login works after the QR code
        await wait_until(pilot, lambda: app.screen.step == "code", what="the code step")
