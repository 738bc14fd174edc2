"""The real app driven by Pilot: real EngineRunner, real Telethon over loopback, the emulator behind it."""

from __future__ import annotations

import time
import tomllib

import pytest
from textual.widgets import Input, Label, ProgressBar
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast

from tests.support.waiting import wait_until
from tobs_tui.config import settings_with
from tobs_tui.engine.snapshot import RunState
from tobs_tui.ui.screens.chats import ChatsScreen
from tobs_tui.ui.screens.confirm import ConfirmScreen
from tobs_tui.ui.screens.login import LoginScreen
from tobs_tui.ui.screens.settings import SettingsScreen
from tobs_tui.ui.widgets.chat_progress import ChatProgressList
from tobs_tui.ui.widgets.dialog_table import DialogTable

SIZE = (140, 42)


def login_error(app) -> str:
    return str(app.screen.query_one("#login-error", Label).render())


async def submit(pilot, app, field: str, value: str) -> None:
    app.screen.query_one(field, Input).value = value
    app.screen.query_one(field, Input).focus()
    await pilot.press("enter")


async def log_in(pilot, app, phone: str, code: str, password: str | None = None) -> None:
    await wait_until(
        pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="the phone step"
    )
    await submit(pilot, app, "#phone", phone)
    await wait_until(pilot, lambda: app.screen.step == "code", what="the code step")
    await submit(pilot, app, "#code", code)
    if password is not None:
        await wait_until(pilot, lambda: app.screen.step == "password", what="the password step")
        await submit(pilot, app, "#password", password)
    await wait_until(pilot, lambda: isinstance(app.screen, ChatsScreen), what="the chat list")
    await wait_until(pilot, lambda: app.screen.query_one(DialogTable).dialog_count > 0, what="dialogs")


async def open_settings(pilot, app, emulator) -> None:
    """Log in to the demo account and open the settings screen (F6)."""
    await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
    await pilot.press("f6")
    await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the settings screen")


def small_chats(app, n: int, lo: int = 300, hi: int = 3_000):
    """The n smallest non-forum chats with lo..hi messages. Only chats that number their own messages
    qualify: a private chat's newest id counts the whole account's messages, so a chat of 300 could pass
    for 8,000 and finish before a test's pause or cancel reaches it."""
    table = app.screen.query_one(DialogTable)
    picks = [
        d
        for d in table._dialogs
        if d.message_estimate is not None and lo <= d.message_estimate <= hi and not d.is_forum
    ]
    return sorted(picks, key=lambda d: d.top_message_id)[:n]


async def pick(pilot, app, title: str) -> None:
    """Type the title into the filter (typing on the list goes there) and select the first match."""
    table = app.screen.query_one(DialogTable)
    app.screen.query_one("#filter", Input).value = ""  # what a previous pick typed
    await pilot.pause()
    table.focus()
    await pilot.press(*title.lower())
    await pilot.pause()
    assert app.screen.query_one("#filter", Input).value == title.lower()
    assert table._rows[0][0].title == title
    await pilot.press("escape", "space")


async def start_without_media(pilot, app) -> None:
    """Ctrl+O switches media off for the whole selection (these tests are about messages, and the
    synthetic world's media run to gigabytes), then Enter starts the export."""
    table = app.screen.query_one(DialogTable)
    await pilot.press("ctrl+o")
    assert table.selected and not any(o.media for o in table.selected.values())
    await pilot.press("enter")


def footer_keys(app) -> set[str]:
    """The keys the footer of the screen shown offers, whether or not they fit."""
    return {k.key for k in app.screen.query(FooterKey) if not k.has_class("-command-palette")}


async def test_the_live_screens_open_only_after_login(make_app, emulator):
    """The login screen's footer offered F3, F4 and F5, which opened the dashboard, pools and throttle screens of
    a session not logged in yet. Before login only Settings is offered besides the login; after it they all are."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="the phone step"
        )
        await pilot.pause()
        assert not {"f2", "f3", "f4", "f5"} & footer_keys(app) and "f6" in footer_keys(app), footer_keys(app)
        for key in ("f3", "f4", "f5"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, LoginScreen) and app.current_mode == "chats", key
        await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
        await wait_until(
            pilot, lambda: {"f3", "f4", "f5", "f6"} <= footer_keys(app), what="the keys that switch screens"
        )
        await pilot.press("f3")
        await wait_until(pilot, lambda: app.current_mode == "dashboard", what="the dashboard")


async def test_login_with_code_shows_one_sentence_for_a_wrong_code(make_app, emulator):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="the phone step"
        )
        assert emulator.world.demo_phone in str(app.screen.query_one("#demo-hint").render())
        await submit(pilot, app, "#phone", emulator.world.demo_phone)
        await wait_until(pilot, lambda: app.screen.step == "code", what="the code step")
        await submit(pilot, app, "#code", "00000")
        await wait_until(pilot, lambda: "wrong" in login_error(app), what="the wrong-code message")
        assert app.screen.step == "code"
        await submit(pilot, app, "#code", emulator.world.demo_code)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatsScreen), what="the chat list")
        await wait_until(pilot, lambda: app.screen.query_one(DialogTable).dialog_count > 0, what="dialogs")
        assert "chats shown" in str(app.screen.query_one("#chat-status", Label).render())


def shown(app, widget) -> str:
    """The text the user sees of a widget: the screen's rows inside the part of its region that is on screen
    (what its containers and the screen clip away is not seen, however wide the widget renders itself)."""
    geo = app.screen.find_widget(widget)
    region = geo.region.intersection(geo.clip).intersection(app.screen.region)
    strips = app.screen._compositor.render_strips()
    lines = (
        "".join(seg.text for seg in strips[y].crop(region.x, region.right)) for y in range(region.y, region.bottom)
    )
    return " ".join(line.strip() for line in lines).strip()


@pytest.mark.parametrize("size", [(80, 24), (100, 30), SIZE, (200, 60)])
async def test_a_phone_with_letters_is_refused_in_one_whole_sentence(make_app, emulator, size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="the phone step"
        )
        await submit(pilot, app, "#phone", "+1555abc0100")
        await wait_until(pilot, lambda: "letters" in login_error(app), what="the phone message")
        await pilot.pause()
        sentence = login_error(app)
        assert sentence.endswith(".") and "NoneType" not in sentence and "connection" not in sentence
        assert " ".join(shown(app, app.screen.query_one("#login-error")).split()) == sentence, "shown whole"
        assert app.screen.step == "phone"
        await submit(pilot, app, "#phone", emulator.world.demo_phone)
        await wait_until(pilot, lambda: app.screen.step == "code", what="the code step")


async def test_a_flood_wait_at_login_says_how_long(make_app, emulator):
    emulator.script("SendCodeRequest", nth=1, error="FLOOD_WAIT_2")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="the phone step"
        )
        await submit(pilot, app, "#phone", emulator.world.demo_phone)
        await wait_until(pilot, lambda: "wait" in login_error(app), what="the FloodWait message")
        assert login_error(app) == "Telegram asks to wait 2 seconds before trying to log in again."


async def test_login_with_two_step_password(make_app, emulator):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="the phone step"
        )
        await submit(pilot, app, "#phone", emulator.world.twofa_phone)
        await wait_until(pilot, lambda: app.screen.step == "code", what="the code step")
        await submit(pilot, app, "#code", emulator.world.demo_code)
        await wait_until(pilot, lambda: app.screen.step == "password", what="the password step")
        password = app.screen.query_one("#password", Input)
        assert password.password, "the 2FA password is typed into a masked field"
        await submit(pilot, app, "#password", "not-it")
        await wait_until(pilot, lambda: "password is wrong" in login_error(app), what="the wrong-password message")
        assert password.value == "", "a password is never kept in the widget"
        await submit(pilot, app, "#password", emulator.world.twofa_password)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatsScreen), what="the chat list")


async def test_sizes_of_private_chats_and_basic_groups_are_fetched_for_the_rows_shown(make_app, emulator):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
        table = app.screen.query_one(DialogTable)
        await pilot.pause()

        def shown():
            return [d for d, topic in table._rows[: table.size.height - 1] if topic is None and not d.ids_per_chat]

        assert shown(), "the demo's first screen holds private chats, bots or basic groups"
        await wait_until(pilot, lambda: all(d.message_count is not None for d in shown()), what="their sizes")
        for d in shown():
            assert d.message_estimate == emulator.world.chats[d.chat_id].count
        asked = {r.peer for r in emulator.log.find(method="GetHistoryRequest")}
        assert {d.chat_id for d in shown()} <= asked
        calls = emulator.log.count(method="GetHistoryRequest")
        assert calls <= len(asked), "one call per chat"
        # Loading the list again keeps the sizes without asking Telegram again.
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: table.dialog_count > 0 and all(d.message_count for d in shown()), what="reload")
        await pilot.pause(0.5)
        assert emulator.log.count(method="GetHistoryRequest") == calls


async def test_answers_that_arrive_while_the_chat_list_is_taken_down_are_dropped(make_app, emulator):
    """Closing the app removes a screen's widgets before it stops the screen's workers; a worker that was
    awaiting the engine (sizes, topics, the export state, the list itself) then finds no table. Its answer is
    dropped and the app closes cleanly (it used to end with NoMatches)."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
        screen = app.screen
        assert isinstance(screen, ChatsScreen)
        ids = tuple(d.chat_id for d in screen.table._dialogs)
        await screen.query_one(DialogTable).remove()
        await screen.query_one("#chat-status", Label).remove()
        workers = [
            screen._load_counts(ids),
            screen._load_topics(ids[0]),
            screen._refresh_last_export(),
            screen.load_dialogs(),
        ]
        for worker in workers:
            await worker.wait()  # raises WorkerFailed if the worker did
        assert app._exception is None


async def test_a_login_answer_that_arrives_while_the_login_screen_is_taken_down_is_dropped(make_app, emulator):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "phone", what="the phone step"
        )
        screen = app.screen
        app.screen.query_one("#phone", Input).value = emulator.world.demo_phone
        await screen.query_one("#login").remove()
        for start in (screen.advance, screen.log_in_with_qr):  # one group, exclusive: one after the other
            await start().wait()  # raises WorkerFailed if the worker did
        assert app._exception is None


async def test_filter_select_and_export_with_numbers_moving(make_app, emulator, settings):
    # A few seconds of export for the dashboard to follow (at 100 ms per reply, 8 in flight, the engine now
    # exports these chats in about a second).
    emulator.set_profile("lan", {"latency_ms": 300.0})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
        chats = small_chats(app, 2, lo=2_000, hi=8_000)
        for chat in chats:
            await pick(pilot, app, chat.title)
        table = app.screen.query_one(DialogTable)
        assert {k[0] for k in table.selected} == {c.chat_id for c in chats}
        await start_without_media(pilot, app)
        await wait_until(pilot, lambda: app.current_mode == "dashboard", what="the dashboard")
        seen: list[int] = []
        too_soon: list[tuple[float, float]] = []

        def progressed() -> bool:
            snap = app.live.latest
            if snap is not None:
                seen.append(snap.messages_done)
                slowest = max((c.eta_s for c in snap.chats if c.eta_s is not None), default=None)
                if slowest is not None and (snap.eta_s is None or snap.eta_s < slowest):
                    too_soon.append((snap.eta_s, slowest))
            return snap is not None and snap.state is RunState.DONE

        await wait_until(pilot, progressed, timeout=60, what="the export to finish")
        snap = app.live.latest
        assert snap.messages_done == snap.messages_expected > 0
        assert {c.chat_id for c in snap.chats} == {c.chat_id for c in chats}
        assert all(c.state.value == "done" for c in snap.chats)
        assert len(set(seen)) >= 3, "the dashboard saw the numbers move"
        assert not too_soon, f"the run's ETA came before its slowest chat's: {too_soon[:3]}"
        assert len(app.live.rates) >= 2
        assert any((settings.export.output_dir).rglob("*.md")), "notes were written to the vault"
        summary = str(app.screen.query_one("#summary").render())
        assert f"{snap.messages_done:,}" in summary
        # The run is over: the footer offers no F7 or F8, and pressing them asks nothing.
        await wait_until(
            pilot, lambda: not {"f7", "f8"} & footer_keys(app), what="the footer without F7 and F8 after the export"
        )
        await pilot.press("f7", "f8")
        await pilot.pause(0.3)
        assert app.current_mode == "dashboard" and not isinstance(app.screen, ConfirmScreen)
        assert app.live.latest.state is RunState.DONE


async def test_settings_apply_resizes_the_engine_and_save_writes_toml(make_app, emulator, tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(pilot, app, emulator)
        screen = app.screen
        screen.query_one("#media-workers", Input).value = "5"
        screen.query_one("#critical", Input).value = "6"
        screen.query_one("#standard", Input).value = "3"
        await pilot.press("ctrl+a")

        def resized() -> bool:
            snap = app.runner.snapshot()
            pools = {p.name: p.workers for p in snap.pools}
            return snap.media.workers == 5 and pools.get("critical") == 6 and pools.get("standard") == 3

        await wait_until(pilot, resized, what="the engine to take the new sizes")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: (tmp_path / "config.toml").exists(), what="the config file")
        saved = tomllib.loads((tmp_path / "config.toml").read_text())
        assert saved["workers"]["media_download_workers"] == 5
        assert saved["workers"]["max_threads"] == 9
        assert app.settings.pool_sizes() == (6, 3)
        assert "saved" in str(screen.query_one("#settings-result", Label).render())


async def test_save_writes_only_what_the_user_changed(make_app, emulator, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("# my settings\n[export]\ntimezone = \"UTC\"  # keep\n", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(pilot, app, emulator)
        app.screen.query_one("#concurrency", Input).value = "7"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "max_concurrent_requests" in config.read_text(), what="the saved file")
        text = config.read_text()
        saved = tomllib.loads(text)
        assert saved["export"]["max_concurrent_requests"] == 7
        assert text.startswith("# my settings") and '"UTC"  # keep' in text
        # The automatic thread count, the share and the media kinds were never touched: they stay unwritten.
        assert "workers" not in saved, text
        assert "media_kinds" not in saved["export"] and "takeout" not in saved["export"], text


async def test_a_proxy_set_in_settings_is_saved_and_its_password_never_shown(make_app, emulator, tmp_path):
    config = tmp_path / "config.toml"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(pilot, app, emulator)
        screen = app.screen
        field = screen.query_one("#proxy", Input)
        assert field.value == ""
        field.value = "socks9://127.0.0.1:1080"
        await pilot.press("ctrl+s")
        await pilot.pause()
        error = str(screen.query_one("#proxy-error", Label).render())
        assert error.startswith("must be a proxy URL: ") and "does not start with socks5://" in error, error
        assert not config.exists(), "nothing was applied or saved"
        field.value = "socks5://alice:hunter22@127.0.0.1:1080"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: config.exists(), what="the saved file")
        assert tomllib.loads(config.read_text())["network"]["proxy"] == "socks5://alice:hunter22@127.0.0.1:1080"
        assert app.settings.network.proxy.endswith("@127.0.0.1:1080")
        assert field.value == "socks5://alice:***@127.0.0.1:1080", "the typed password leaves the screen"
        assert "next start" in str(screen.query_one("#settings-result", Label).render())
        # Saved again untouched, the field's "***" is not taken for a new password.
        screen.query_one("#concurrency", Input).value = "7"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "max_concurrent_requests" in config.read_text(), what="the second save")
        assert "hunter22" in config.read_text() and "***" not in config.read_text()
        assert "hunter22" not in app.export_screenshot()


async def test_invalid_settings_are_refused_beside_the_field_and_nothing_applies(make_app, emulator):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_settings(pilot, app, emulator)
        before = app.settings
        screen = app.screen
        screen.query_one("#media-workers", Input).value = "7"
        screen.query_one("#concurrency", Input).value = "0"
        screen.query_one("#timezone", Input).value = "Mars/Olympus"
        screen.query_one("#refresh", Input).value = "fast"
        await pilot.press("ctrl+a")
        await pilot.pause()
        assert "1 to 64" in str(screen.query_one("#concurrency-error", Label).render())
        assert "IANA" in str(screen.query_one("#timezone-error", Label).render())
        assert "number" in str(screen.query_one("#refresh-error", Label).render())
        assert str(screen.query_one("#media-workers-error", Label).render()) == ""
        assert "Nothing applied" in str(screen.query_one("#settings-result", Label).render())
        assert app.settings is before
        await pilot.pause(0.3)
        assert app.runner.snapshot().media.workers != 7


async def test_pause_resume_then_cancel(make_app, emulator, settings):
    emulator.set_profile("lan", {"latency_ms": 300.0})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
        chat = small_chats(app, 1, lo=8_000, hi=60_000)[0]
        await pick(pilot, app, chat.title)
        await start_without_media(pilot, app)
        await wait_until(pilot, lambda: app.live.latest and app.live.latest.messages_done > 0, what="progress")
        await pilot.press("f7")
        await wait_until(pilot, lambda: app.live.latest.state is RunState.PAUSED, what="the pause")
        # What was asked for before the pause still lands and is written (later on a loaded machine: pages
        # already fetched wait for the writer); nothing more is asked for: the emulator's count of history
        # requests settles with none in flight, and stays there (the chat has thousands of messages left).
        asked = lambda: emulator.log.count(method="GetHistoryRequest")  # noqa: E731
        deadline = time.monotonic() + 30
        held = -1
        while True:
            if asked() == held and app.live.latest.requests_in_flight == 0:
                break
            assert time.monotonic() < deadline, "the paused export kept asking"
            held = asked()
            await pilot.pause(1.0)
        await pilot.pause(1.5)
        assert asked() == held, "a paused export starts no new requests"
        assert app.live.latest.messages_done < chat.top_message_id
        # Paused rows say so and promise no ETA (a rate decaying over the pause would stretch it for nothing).
        paused = app.live.latest
        assert paused.eta_s is None and all(c.eta_s is None for c in paused.chats)
        rows = app.screen.query_one(ChatProgressList)
        line = "".join(seg.text for seg in rows.render_line(1))
        assert " paused " in line and " running " not in line, line
        assert line.rstrip().endswith("—"), line
        # Mid-export the chats list shows what is committed so far (read from the state DB on showing it).
        running = app.live.latest.chats[0].chat_id
        await pilot.press("f2")
        table = app.screen.query_one(DialogTable)
        await wait_until(
            pilot,
            lambda: next(d for d in table._dialogs if d.chat_id == running).last_exported_id is not None,
            what="the running chat's committed id on the chats list",
        )
        await pilot.press("f3")
        # Slower replies from here: on a loaded machine the rest of the chat could otherwise be exported (about
        # 3 s at 300 ms) before the cancel's question is answered, and the export end done instead.
        emulator.set_profile("lan", {"latency_ms": 1500.0})
        await pilot.press("f7")
        await wait_until(pilot, lambda: app.live.latest.state is RunState.RUNNING, what="the resume")
        await pilot.press("f8")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the cancel question")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.live.latest.state is RunState.CANCELLED, timeout=30, what="the cancel")
        stopped_at = app.live.latest.messages_done
        assert 0 < stopped_at < chat.top_message_id
        # The chats list says how far the half-exported chat got, not "never" (titles can repeat: match by id).
        exported = app.live.latest.chats[0].chat_id
        table = app.get_screen_stack_top("chats").query_one(DialogTable)

        def listed():
            return next(d for d in table._dialogs if d.chat_id == exported)

        await wait_until(pilot, lambda: listed().last_exported_id is not None, what="the chat's last export")
        assert 0 < listed().new_since_export < listed().top_message_id


async def test_quit_during_export_asks_then_next_run_resumes(make_app, emulator, settings):
    # 8 requests of 100 messages in flight, 600 ms each: at most 1,333 messages/s, so a chat of 9,000 or more
    # is still exporting when the second Ctrl-Q comes, however slowly a loaded machine draws the question.
    emulator.set_profile("lan", {"latency_ms": 600.0})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
        session = app.session
        chat = small_chats(app, 1, lo=9_000, hi=15_000)[0]
        await pick(pilot, app, chat.title)
        await start_without_media(pilot, app)
        await wait_until(pilot, lambda: app.live.latest and app.live.latest.messages_done > 0, what="progress")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the quit question")
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and app.live.latest.state is RunState.RUNNING
        exported = app.live.latest.chats[0].chat_id  # titles can repeat: follow the chat by id
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the quit question")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, timeout=30, what="the app to exit")
    assert app.return_code == 0
    assert app.runner is None, "the engine thread was stopped"

    emulator.set_profile("lan")
    again = make_app(session=session)  # the session logged in above: straight to the chats
    async with again.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: isinstance(again.screen, ChatsScreen) and again.screen.query_one(DialogTable).dialog_count > 0,
            what="the chat list",
        )
        listed = next(d for d in again.screen.query_one(DialogTable)._dialogs if d.chat_id == exported)
        assert listed.last_exported_id is not None, "a quit export lists what it committed, not 'never'"
        assert 0 < listed.new_since_export < listed.top_message_id
        await pick(pilot, again, chat.title)
        await start_without_media(pilot, again)
        await wait_until(
            pilot,
            lambda: again.live.latest and again.live.latest.state is RunState.DONE,
            timeout=90,
            what="the resumed export",
        )
        assert again.live.latest.messages_done < chat.top_message_id, "the second run continued, not restarted"


async def test_only_credentials_typed_on_the_login_screen_are_saved(emulator, settings, tmp_path):
    from tobs_tui.emulator.credentials import DEMO_API_HASH, DEMO_API_ID
    from tobs_tui.ui.app import TobsApp

    given = TobsApp(
        settings,
        session=emulator.session_string(authorized=True),
        api_id=DEMO_API_ID,
        api_hash=DEMO_API_HASH,
        config_path=tmp_path / "given.toml",
    )
    typed = TobsApp(settings, session=emulator.session_string(authorized=True), config_path=tmp_path / "typed.toml")
    try:
        async with given.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: given.logged_in, what="the login with given credentials")
            await pilot.pause(0.3)
        assert not (tmp_path / "given.toml").exists(), "credentials from the caller are not written to a config"

        async with typed.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(typed.screen, LoginScreen), what="the api step")
            typed.screen.query_one("#api-id", Input).value = str(DEMO_API_ID)
            await submit(pilot, typed, "#api-hash", DEMO_API_HASH)
            await wait_until(pilot, lambda: (tmp_path / "typed.toml").exists(), what="the saved config")
        assert tomllib.loads((tmp_path / "typed.toml").read_text())["telegram"]["api_id"] == DEMO_API_ID
    finally:
        for app in (given, typed):
            if app.runner is not None:
                app.runner.stop()


async def test_hostile_titles_show_as_inert_text_in_the_chat_list(make_app):
    """Titles with Rich markup, escape sequences, a newline and a bidi override: the chat list draws each on its
    own row, brackets as typed, every control character as a visible escape."""
    from tobs_tui.emulator import Emulator
    from tobs_tui.emulator.world import World

    titles = ["closing [/] tag [bold red]x", "esc \x1b[2J bell \x07", "fake\nrow", "rtl \u202egpj.exe"]
    world = World({"seed": 3, "generated_users": 3, "chats": [{"title": t, "messages": 5} for t in titles]})
    with Emulator(profile="lan", seed=1, world=world) as emu:
        app = make_app(session=emu.session_string(authorized=False))
        async with app.run_test(size=SIZE) as pilot:
            await log_in(pilot, app, emu.world.demo_phone, emu.world.demo_code)
            table = app.screen.query_one(DialogTable)
            await wait_until(pilot, lambda: table.dialog_count == len(titles), what="the hostile chats")
            await pilot.pause()
            rows = [table.render_line(y).text for y in range(table.size.height)]
    shown = "\n".join(rows)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown, repr(shown)
    for expected in ("closing [/] tag [bold red]x", "esc \\x1b[2J bell \\x07", "fake\\nrow", "rtl \\u202egpj.exe"):
        assert sum(expected in row for row in rows) == 1, (expected, rows)


async def test_a_dead_proxy_at_login_is_its_own_sentence_without_a_second_guess(make_app, settings):
    """The engine names the proxy and what to do; the login screen adds only how to retry."""
    import socket

    from tobs_tui.config import settings_with

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    app = make_app(settings=settings_with(settings, "network", proxy=f"socks5://bob:pw123@127.0.0.1:{port}"))
    async with app.run_test(size=SIZE) as pilot:
        # The screen is current as soon as it is pushed; its fields exist once it is mounted (it sets its step).
        on_login = lambda: isinstance(app.screen, LoginScreen) and app.screen.step == "api"  # noqa: E731
        await wait_until(pilot, on_login, timeout=60, what="the login screen")

        def error() -> str:
            return str(app.screen.query_one("#login-error", Label).render())

        await wait_until(pilot, lambda: "proxy" in error(), timeout=60, what="the proxy sentence")
        assert f"SOCKS5 proxy 127.0.0.1:{port}" in error() and "pw123" not in error()
        app.screen.query_one("#api-id", Input).value = "1"
        await submit(pilot, app, "#api-hash", "0123456789abcdef0123456789abcdef")  # Enter there is Continue
        await wait_until(pilot, lambda: "press Continue to retry" in error(), timeout=60, what="the retry sentence")
        assert f"SOCKS5 proxy 127.0.0.1:{port}" in error()
        assert "check your connection" not in error().lower(), error()


async def test_an_export_that_cannot_write_fails_in_one_toast_and_the_dashboard_says_so(make_app, emulator, settings):
    # A file where the export folder should be: the run fails before any chat starts. At 80x24 this once raised
    # the same long sentence twice (an "Error" toast and an "Export failed" one) in a stack taller than the screen,
    # while the chat box said "No export yet" and the total bar went on pulsing.
    blocker = settings.export.output_dir.parent / "afile"
    blocker.write_text("not a folder")
    app = make_app(settings=settings_with(settings, "export", output_dir=str(blocker / "vault")))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await log_in(pilot, app, emulator.world.demo_phone, emulator.world.demo_code)
        for chat in small_chats(app, 2, lo=2_000, hi=20_000):
            await pick(pilot, app, chat.title)
        await start_without_media(pilot, app)

        def failed() -> bool:
            snap = app.live.latest
            done = app.export_future is not None and app.export_future.done()
            return done and snap is not None and snap.state is RunState.FAILED and bool(snap.errors)

        await wait_until(pilot, failed, timeout=60, what="the export to fail")
        ended = lambda: not any(w.group == "export" and not w.is_finished for w in app.workers)  # noqa: E731
        await wait_until(pilot, ended, what="the app to hear that the export ended")
        sentence = app.live.latest.errors[0]
        assert "in the way" in sentence, sentence
        words = " ".join(sentence.split())
        toasted = lambda: any(words[:30] in " ".join(str(t.render()).split()) for t in app.screen.query(Toast))  # noqa: E731
        await wait_until(pilot, toasted, what="the error's toast")
        await pilot.pause(0.5)  # the run's end and its error event both handled: a second toast would be drawn
        assert app.current_mode == "dashboard"
        toasts = [t for t in app.screen.query(Toast) if words[:30] in " ".join(str(t.render()).split())]
        assert len(toasts) == 1, [str(t.render()) for t in app.screen.query(Toast)]
        toast = toasts[0]
        inside = toast.content_region
        assert app.screen.region.contains_region(toast.region), toast.region
        strips = app.screen._compositor.render_strips()
        rows = [
            "".join(seg.text for seg in strips[y].crop(inside.x, inside.right)) for y in range(inside.y, inside.bottom)
        ]
        assert "".join(rows).replace(" ", "").endswith(words.replace(" ", "")), ("the whole sentence on screen", rows)
        chats = shown(app, app.screen.query_one(ChatProgressList))
        assert "No export yet" not in chats and "failed" in chats, chats
        bar = app.screen.query_one("#total", ProgressBar)
        assert not bar.display or bar.total is not None, "no pulse once the run is over"
