"""The login conversation (phone -> code, or a QR code another app scans -> optional 2FA password) with every
user error as one sentence.

Secrets (the code, the password) are never logged or put into error messages.
"""

from __future__ import annotations

import asyncio
import datetime
import re
from dataclasses import dataclass

from telethon import TelegramClient, errors, functions, types
from telethon.tl.custom.qrlogin import QRLogin

# What a phone number may look like once spaces, dashes, dots and brackets are gone: E.164 allows 15 digits.
PHONE = re.compile(r"\+?[0-9]{5,15}")


class LoginError(Exception):
    """A login step failed for a reason the user can fix; str() is one clear sentence."""


def wait_words(seconds: int) -> str:
    """A wait as a person says it: "2 seconds", "5 min 30 s", "3 h 20 min"."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _flood_sentence(e: errors.FloodError) -> str:
    seconds = int(getattr(e, "seconds", 0) or 0)
    return f"Telegram asks to wait {wait_words(seconds)} before trying to log in again."


# A QR code is drawn again this long before its token expires, so the one on screen always still works.
QR_REFRESH_MARGIN_S = 5.0


@dataclass(frozen=True)
class QrCode:
    """What to draw: the tg://login URL another Telegram app scans, and when its token expires.

    `outcome` is set when asking for a new code found the last one already accepted: "ok" (logged in) or
    "password_needed"; the next qr_wait returns it at once, and the code shown meanwhile is the last one."""

    url: str
    expires: datetime.datetime
    outcome: str | None = None


class LoginFlow:
    """Holds the phone and code hash between steps; one instance per client."""

    def __init__(self, client: TelegramClient) -> None:
        self._client = client
        self._phone: str | None = None
        self._phone_code_hash: str | None = None
        self._qr: QRLogin | None = None
        self._last_code: QrCode | None = None
        self._outcome: str | None = None  # how a new code's request ended the login, for the next qr_wait

    async def send_code(self, phone: str) -> None:
        phone = re.sub(r"[\s().-]", "", phone)
        if not phone:
            raise LoginError("Enter your phone number in international format, e.g. +15551234567.")
        if not PHONE.fullmatch(phone):
            # Checked before sending: Telethon turns such a number into None and fails with a type error.
            raise LoginError(
                "A phone number is a + and up to 15 digits, e.g. +15551234567; check it for letters or symbols."
            )
        try:
            sent = await self._client.send_code_request(phone)
        except errors.PhoneNumberInvalidError:
            raise LoginError(
                "Telegram does not know that phone number; check it and use the +country format."
            ) from None
        except errors.PhoneNumberBannedError:
            raise LoginError("That phone number is banned by Telegram; log in with another account.") from None
        except errors.FloodError as e:
            raise LoginError(_flood_sentence(e)) from None
        self._phone = phone
        self._phone_code_hash = sent.phone_code_hash

    async def sign_in(self, code: str) -> str:
        """Returns "ok" or "password_needed"."""
        if self._phone is None:
            raise LoginError("Send the login code first: enter your phone number.")
        code = code.strip().replace(" ", "").replace("-", "")
        if not code:
            raise LoginError("Enter the login code Telegram sent you.")
        try:
            await self._client.sign_in(self._phone, code, phone_code_hash=self._phone_code_hash)
        except errors.SessionPasswordNeededError:
            return "password_needed"
        except errors.PhoneCodeInvalidError:
            raise LoginError("That login code is wrong; check the code Telegram sent and try again.") from None
        except errors.PhoneCodeExpiredError:
            raise LoginError("That login code has expired; request a new code.") from None
        except errors.FloodError as e:
            raise LoginError(_flood_sentence(e)) from None
        return "ok"

    async def qr_code(self) -> QrCode:
        """A fresh QR login code (Telethon's qr_login; each call replaces the last token).

        auth.exportLoginToken answers with a new token only while the last one is unaccepted: scanned after
        qr_wait gave up (just before the refresh), it answers loginTokenSuccess, loginTokenMigrateTo (the account
        lives on another DC) or SESSION_PASSWORD_NEEDED instead, and the login is finished here."""
        try:
            if self._qr is None:
                # The token is accepted by an updateLoginToken: this client must take updates while it waits.
                # Telethon turns them on first, then asks for the update state, which a key not yet logged in
                # may not do; the first half is what counts here.
                try:
                    await self._client.set_receive_updates(True)
                except errors.AuthKeyUnregisteredError:
                    pass
                self._qr = await self._client.qr_login()
            else:
                await self._qr.recreate()
            response = self._qr._resp
            if not isinstance(response, types.auth.LoginToken):
                await self._finish_qr(response)
                return await self._ended("ok")
        except errors.SessionPasswordNeededError:
            return await self._ended("password_needed")
        except errors.FloodError as e:
            raise LoginError(_flood_sentence(e)) from None
        self._outcome = None
        self._last_code = QrCode(self._qr.url, self._qr.expires)
        return self._last_code

    async def _finish_qr(self, response: object) -> None:
        """Log in with an answer to auth.exportLoginToken that is not a new token, as Telethon's QRLogin.wait does
        with the one it asks for once the code was scanned: on another DC the token is imported there first."""
        if isinstance(response, types.auth.LoginTokenMigrateTo):
            await self._client._switch_dc(response.dc_id)
            response = await self._client(functions.auth.ImportLoginTokenRequest(response.token))
        if not isinstance(response, types.auth.LoginTokenSuccess):
            raise LoginError(
                "Telegram answered the QR login in a way tobs-tui does not know; log in with your phone number instead."
            )
        await self._client._on_login(response.authorization.user)

    async def _ended(self, outcome: str) -> QrCode:
        """The login ended while a new code was asked for: the next qr_wait says how (see QrCode.outcome)."""
        self._outcome = outcome
        await self._stop_updates()  # nothing is waited for any more
        last = self._last_code or QrCode("", datetime.datetime.now(tz=datetime.UTC))
        return QrCode(last.url, last.expires, outcome)

    async def qr_wait(self) -> str:
        """Waits until the code on screen is scanned or is about to expire: "ok", "password_needed" or
        "refresh" (draw a new code)."""
        if self._outcome is not None:
            outcome, self._outcome = self._outcome, None
            return outcome
        if self._qr is None:
            raise LoginError("Show a QR code first.")
        left = (self._qr.expires - datetime.datetime.now(tz=datetime.UTC)).total_seconds() - QR_REFRESH_MARGIN_S
        try:
            await self._qr.wait(timeout=max(left, 0.1))
        except TimeoutError:
            return "refresh"
        except asyncio.CancelledError:
            # The code was dropped unscanned (the login screen went back to the phone number): the updates
            # that would have said it was scanned are not wanted any more.
            await self._stop_updates()
            raise
        except errors.SessionPasswordNeededError:
            await self._stop_updates()
            return "password_needed"
        except errors.FloodError as e:
            raise LoginError(_flood_sentence(e)) from None
        await self._stop_updates()
        return "ok"

    async def _stop_updates(self) -> None:
        self._qr = None
        await self._client.set_receive_updates(False)

    async def check_password(self, password: str) -> None:
        if not password:
            raise LoginError("Enter your two-step verification password.")
        try:
            await self._client.sign_in(password=password)
        except errors.PasswordHashInvalidError:
            raise LoginError("That two-step verification password is wrong; try again.") from None
        except errors.FloodError as e:
            raise LoginError(_flood_sentence(e)) from None
