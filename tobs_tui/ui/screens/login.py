"""Login: api id/hash (when not configured), phone, code, and the 2FA password in a masked input.

Every wrong value gets one sentence under its field and another try; secrets are never shown or logged.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Static

from tobs_tui.engine import LoginError
from tobs_tui.ui.bridge import EngineBridge
from tobs_tui.ui.widgets.key_footer import KeyFooter
from tobs_tui.ui.widgets.qr_code import QrCode

STEPS = ("api", "phone", "code", "password", "qr")

STEP_TEXT = {
    "api": "Your Telegram API credentials. Create them once at https://my.telegram.org → API development tools.",
    "phone": "Your phone number in international format; Telegram sends a login code to your Telegram app.",
    "code": "The login code Telegram just sent to your Telegram app (or by SMS).",
    "password": "This account has two-step verification: enter its password.",
    "qr": "In Telegram on your phone: Settings → Devices → Link Desktop Device.",
}
QR_BACK = "Esc or the button below goes back to logging in with your phone number and a code."
API_HASH = re.compile(r"[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class DemoInfo:
    """What the login screen shows when the app runs against the built-in emulator."""

    profile: str
    phone: str
    code: str
    twofa_phone: str
    twofa_password: str


class InputRefused(ValueError):
    """A typed value is refused before anything is sent; str() is the one sentence to show."""


def check_api(api_id: str, api_hash: str) -> tuple[int, str]:
    """Raises InputRefused with the one sentence to show under the field."""
    api_id = api_id.strip()
    if not api_id.isdigit() or int(api_id) <= 0:
        raise InputRefused("The api id is a whole number (e.g. 1234567); copy it from my.telegram.org.")
    api_hash = api_hash.strip()
    if not API_HASH.fullmatch(api_hash):
        raise InputRefused("The api hash is 32 hexadecimal characters; copy it from my.telegram.org.")
    return int(api_id), api_hash.lower()


class LoginScreen(Screen[bool]):
    """Dismisses with True once the session is authorised."""

    BINDINGS = [Binding("escape", "back", "Back to phone login")]

    def __init__(
        self,
        engine: EngineBridge,
        *,
        step: str = "phone",
        error: str | None = None,
        demo: DemoInfo | None = None,
        phone: str = "",
    ) -> None:
        super().__init__()
        self.engine = engine
        self.first_step = step
        self.first_error = error
        self.demo = demo
        self.known_phone = phone
        self.step: str | None = None  # set once the step's fields are on screen

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="login"):
            yield Static("Log in to Telegram", id="login-title")
            yield Label("", id="login-explain")
            with Vertical(id="step-api", classes="step"):
                yield Label("api id")
                yield Input(placeholder="1234567", id="api-id", type="integer")
                yield Label("api hash")
                yield Input(placeholder="0123456789abcdef0123456789abcdef", id="api-hash", password=True)
            with Vertical(id="step-phone", classes="step"):
                yield Label("phone")
                yield Input(placeholder="+15551234567", id="phone")
                yield Button("Log in with a QR code instead", id="login-qr")
            with Vertical(id="step-code", classes="step"):
                yield Label("login code")
                yield Input(placeholder="12345", id="code")
            with Vertical(id="step-password", classes="step"):
                yield Label("two-step verification password")
                yield Input(placeholder="password", id="password", password=True)
            with Horizontal(id="step-qr", classes="step"):
                yield QrCode(id="qr-code")
                with Vertical(id="qr-side"):
                    yield Label(QR_BACK)
                    yield Button("Back to phone login", id="login-qr-back")
            yield Label("", id="login-error", classes="field-error")
            yield Button("Continue", variant="primary", id="login-next")
            yield Static("", id="login-connection")
            yield Static("", id="demo-hint")
        yield KeyFooter()

    def on_mount(self) -> None:
        demo = self.demo
        hint = self.query_one("#demo-hint", Static)
        if demo is not None:
            hint.update(
                f"[b]Demo[/b] (built-in emulator, no real account): phone [b]{demo.phone}[/b], "
                f"code [b]{demo.code}[/b]. With two-step verification: phone [b]{demo.twofa_phone}[/b], "
                f"password [b]{demo.twofa_password}[/b]. Api id/hash: any values."
            )
        else:
            hint.display = False
        network = getattr(getattr(self.app, "settings", None), "network", None)
        proxy = network.parsed_proxy() if network is not None else None
        self.query_one("#login-connection", Static).update(f"connection: {proxy.describe() if proxy else 'direct'}")
        if self.known_phone:
            self.query_one("#phone", Input).value = self.known_phone
        self.show_step(self.first_step, self.first_error)

    def show_step(self, step: str, error: str | None = None) -> None:
        self.step = step
        for name in STEPS:
            self.query_one(f"#step-{name}").display = name == step
        self.query_one("#login-explain", Label).update(STEP_TEXT[step])
        self.query_one("#login-error", Label).update(error or "")
        first = {"api": "#api-id", "phone": "#phone", "code": "#code", "password": "#password"}.get(step)
        if first is not None:
            # Focus without scrolling to the field: on a short terminal the screen opens at its heading.
            self.query_one(first, Input).focus(scroll_visible=False)
        self.query_one("#login-next", Button).display = step != "qr"
        self.refresh_bindings()  # Esc goes back only from the QR code

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.step == "qr" if action == "back" else True

    @on(Button.Pressed, "#login-qr-back")
    def action_back(self) -> None:
        """Leave the QR code for the phone number and code: the code on screen is dropped unscanned."""
        if self.step != "qr":
            return
        self.workers.cancel_group(self, "login")
        self.show_step("phone")

    def _error(self, text: str) -> None:
        self.query_one("#login-error", Label).update(text)
        self._busy(False)

    def _busy(self, busy: bool) -> None:
        button = self.query_one("#login-next", Button)
        button.disabled = busy
        button.label = "Working…" if busy else "Continue"

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "api-id":
            self.query_one("#api-hash", Input).focus()
            return
        self.advance()

    @on(Button.Pressed, "#login-next")
    def _pressed(self) -> None:
        self.advance()

    @contextlib.contextmanager
    def _unless_taken_down(self) -> Iterator[None]:
        """A login request that answers while the screen is taken down (closing the app removes its widgets
        before it stops its workers) finds none of them: that answer has nowhere to go, and is dropped."""
        try:
            yield
        except NoMatches:
            if self.query("#login-error"):
                raise  # the screen is whole: a real fault

    @on(Button.Pressed, "#login-qr")
    @work(exclusive=True, group="login")
    async def log_in_with_qr(self) -> None:
        """Draw a code, wait for another Telegram app to accept it, draw a new one before it expires."""
        with self._unless_taken_down():
            await self._log_in_with_qr()

    async def _log_in_with_qr(self) -> None:
        self.show_step("qr")
        try:
            outcome = "refresh"
            while outcome == "refresh":
                self.query_one("#qr-code", QrCode).show(await self.engine.qr_url())
                outcome = await self.engine.qr_wait()
        except LoginError as e:
            self.show_step("phone", str(e))
            return
        except ConnectionError as e:  # the engine's own sentence: the network, or the proxy by name
            self.show_step("phone", f"{e} Then try again.")
            return
        except Exception as e:  # the connection, as in advance(): one sentence, and the phone step to retry
            self.show_step("phone", f"{e or type(e).__name__} Check your connection and try again.")
            return
        if outcome == "password_needed":
            self.show_step("password")
        else:
            self.dismiss(True)

    @work(exclusive=True, group="login")
    async def advance(self) -> None:
        """Send the current step's value; the step's handler moves on, dismisses, or raises one sentence."""
        with self._unless_taken_down():
            await self._advance()

    async def _advance(self) -> None:
        steps: dict[str | None, Callable[[], Awaitable[None]]] = {
            "api": self._send_api,
            "phone": self._send_phone,
            "code": self._send_code,
            "password": self._send_password,
        }
        self._busy(True)
        try:
            await steps[self.step]()
        except (LoginError, InputRefused) as e:
            self._error(str(e))
        except ConnectionError as e:  # the engine's own sentence already says what to check (the proxy by name)
            self._error(f"{e} Then press Continue to retry.")
        except Exception as e:
            self._error(
                f"{e} Check your connection and press Continue to retry."
                if str(e)
                else f"{type(e).__name__}: check your connection and press Continue to retry."
            )
        else:
            self._busy(False)

    async def _send_api(self) -> None:
        api_id, api_hash = check_api(self.query_one("#api-id", Input).value, self.query_one("#api-hash", Input).value)
        self.engine.open(api_id, api_hash)
        if await self.engine.connect():
            self.dismiss(True)
        else:
            self.show_step("phone")

    async def _send_phone(self) -> None:
        await self.engine.send_code(self.query_one("#phone", Input).value)
        self.show_step("code")

    async def _send_code(self) -> None:
        if await self.engine.sign_in(self.query_one("#code", Input).value) == "password_needed":
            self.show_step("password")
        else:
            self.dismiss(True)

    async def _send_password(self) -> None:
        password = self.query_one("#password", Input)
        try:
            await self.engine.check_password(password.value)
        finally:
            password.value = ""  # never keep the password around in the widget
        self.dismiss(True)
