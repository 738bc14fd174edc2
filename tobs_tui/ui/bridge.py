"""The UI's typed handle on the engine runner: builds it, and turns its futures into awaitables on the UI loop.

Screens hold an `EngineBridge` (handed to them when the app builds them) instead of reaching into the app,
so no screen imports `ui/app.py`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tobs_tui.config import Settings
from tobs_tui.engine import DialogInfo, EngineEvent, EngineRunner, EngineSnapshot, ExportRequest, TopicInfo

T = TypeVar("T")


class NotStartedError(RuntimeError):
    """A call needed the engine before any credentials started it."""

    def __init__(self) -> None:
        super().__init__("The engine is not started yet: enter your api id and hash first.")


async def wait_for(future: concurrent.futures.Future[T]) -> T:
    """Await a runner future (concurrent.futures) on the UI loop without blocking it."""
    return await asyncio.wrap_future(future)


class EngineBridge:
    """Owns the current `EngineRunner` (rebuilt when new credentials are typed) and its UI-side calls."""

    def __init__(
        self,
        *,
        session: str | Path,
        settings: Callable[[], Settings],
        on_snapshot: Callable[[EngineSnapshot], None],
        on_event: Callable[[EngineEvent], None],
    ) -> None:
        self._session = session
        self._settings = settings
        self._on_snapshot = on_snapshot
        self._on_event = on_event
        self.runner: EngineRunner | None = None
        self.credentials: tuple[int, str] | None = None
        self.authorized = False  # set by the app once login finished; the chat list waits for it

    # -- the runner's life ---------------------------------------------------------------------------

    def open(self, api_id: int, api_hash: str) -> EngineRunner:
        """(Re)build the runner for these credentials and start its thread."""
        if self.runner is not None:
            self.runner.stop()
        settings = self._settings()
        runner = EngineRunner(
            settings,
            session=self._session,
            api_id=api_id,
            api_hash=api_hash,
            on_snapshot=self._on_snapshot,
            on_event=self._on_event,
            # Render worker processes even on one CPU: rendering on the engine's threads would hold the GIL
            # against this loop, and keys waited a median 14 ms instead of 2 (docs/PERFORMANCE.md, section 6).
            render_in_process=False,
        )
        runner.start()
        runner.set_snapshot_rate(settings.ui.refresh_hz)
        self.runner, self.credentials, self.authorized = runner, (api_id, api_hash), False
        return runner

    async def close(self) -> None:
        """Stop the engine thread (off the UI loop: stopping waits for the export to wind down)."""
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await asyncio.to_thread(runner.stop)

    def _need(self) -> EngineRunner:
        if self.runner is None:
            raise NotStartedError()
        return self.runner

    # -- login -------------------------------------------------------------------------------------

    async def connect(self) -> bool:
        """True when the session is already authorised."""
        return bool(await wait_for(self._need().connect()))

    async def send_code(self, phone: str) -> None:
        await wait_for(self._need().send_code(phone))

    async def sign_in(self, code: str) -> str:
        """ "ok" or "password_needed"."""
        return str(await wait_for(self._need().sign_in(code)))

    async def check_password(self, password: str) -> None:
        await wait_for(self._need().check_password(password))

    async def qr_url(self) -> str:
        """A fresh login code's URL to draw (ask again for a new one before the last expires)."""
        return str((await wait_for(self._need().qr_code())).url)

    async def qr_wait(self) -> str:
        """ "ok" once another app accepted the code, "password_needed", or "refresh"."""
        return str(await wait_for(self._need().qr_wait()))

    # -- chats -------------------------------------------------------------------------------------

    async def list_dialogs(self) -> list[DialogInfo]:
        return list(await wait_for(self._need().list_dialogs()))

    async def list_topics(self, chat_id: int) -> list[TopicInfo]:
        return list(await wait_for(self._need().list_topics(chat_id)))

    async def message_counts(self, chat_ids: tuple[int, ...]) -> dict[int, int]:
        """Every count the engine knows, after asking for these chats' (one cheap call each, cached)."""
        return dict(await wait_for(self._need().message_counts(chat_ids)))

    async def exported_last_ids(self) -> dict[int, int]:
        return dict(await wait_for(self._need().exported_last_ids()))

    # -- exports -----------------------------------------------------------------------------------

    def start_export(self, request: ExportRequest) -> concurrent.futures.Future[EngineSnapshot]:
        return self._need().start_export(request)

    async def cancel(self) -> None:
        if self.runner is not None:
            await wait_for(self.runner.cancel())
