"""Settings: pool sizes, media workers, concurrency cap, takeout, media kinds, export dir, time zone, refresh rate,
proxy.

Apply hands every value to the running engine at once; a single invalid value is refused beside its
field and then nothing is applied. Save also writes the config file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Header, Input, Label, SelectionList, Static, Switch

from tobs_tui.config import MEDIA_KINDS, ConfigError, Settings, save_settings, settings_with, split_threads
from tobs_tui.engine import EngineSnapshot
from tobs_tui.network import redacted
from tobs_tui.ui import format as fmt
from tobs_tui.ui.history import LiveHistory
from tobs_tui.ui.messages import SettingsApplied
from tobs_tui.ui.screens.live import LiveScreen
from tobs_tui.ui.widgets.key_footer import KeyFooter

# (field id, label, section, key, kind)
FIELDS = (
    ("critical", "Critical pool workers", "workers", None, "int"),
    ("standard", "Standard pool workers", "workers", None, "int"),
    ("media-workers", "Media download workers (0 = auto)", "workers", "media_download_workers", "int"),
    ("concurrency", "Max concurrent requests", "export", "max_concurrent_requests", "int"),
    ("output-dir", "Export directory", "export", "output_dir", "path"),
    ("timezone", "Time zone (IANA name, UTC or local)", "export", "timezone", "str"),
    ("refresh", "Dashboard refresh rate (Hz, 1–4)", "ui", "refresh_hz", "float"),
    ("proxy", "Proxy URL (empty = direct; used from the next start)", "network", "proxy", "proxy"),
)


def engine_figures(snap: EngineSnapshot | None) -> list[tuple[str, str]]:
    """What the engine runs with at this moment, so an applied change can be seen taking effect."""
    pools = {p.name: p for p in snap.pools} if snap else {}
    rows = []
    for name in ("critical", "standard"):
        pool = pools.get(name)
        rows.append((f"{name} workers", fmt.count(pool.workers) if pool else fmt.DASH))
    rows.append(("media workers", fmt.count(snap.media.workers) if snap else fmt.DASH))
    rows.append(("request limit", fmt.count(snap.concurrency_limit) if snap else fmt.DASH))
    rows.append(("in flight", fmt.count(snap.requests_in_flight) if snap else fmt.DASH))
    rows.append(("takeout", snap.takeout if snap else fmt.DASH))
    rows.append(("export disk", snap.disk_type if snap else fmt.DASH))
    return rows


def engine_now(snap: EngineSnapshot | None) -> Table:
    """The engine's figures as a table: a label and its value a line."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column(justify="right")
    for label, value in engine_figures(snap):
        table.add_row(label, value)
    return table


class Packed:
    """Items side by side, as many a line as fit, each whole on one line: the engine's figures in two lines at 80
    columns, where a line each would take the form's room."""

    GAP = "   "

    def __init__(self, items: list[Text]) -> None:
        self.items = items

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widths = [item.cell_len for item in self.items]
        return Measurement(max(widths, default=0), sum(widths) + len(self.GAP) * max(0, len(widths) - 1))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        line = Text()
        for item in self.items:
            if line and line.cell_len + len(self.GAP) + item.cell_len > width:
                yield from self._line(line, console, width)
                line = Text()
            if line:
                line.append(self.GAP)
            line.append_text(item)
        if line:
            yield from self._line(line, console, width)

    @staticmethod
    def _line(line: Text, console: Console, width: int) -> RenderResult:
        line.truncate(width, overflow="ellipsis")  # only an item wider than the whole line
        yield from line.render(console)
        yield Segment.line()


def engine_now_packed(snap: EngineSnapshot | None) -> Packed:
    """The engine's figures in as few lines as the width allows: "critical workers 4   standard workers 2 …"."""
    return Packed([Text.assemble((label, "dim"), " ", value) for label, value in engine_figures(snap)])


# The narrowest terminal on which the engine's panel goes beside the form rather than under it: the form's padding,
# a label, a field and the form's scrollbar, then the panel and its margin (app.tcss), all whole: 4 + 44 + 30 + 2
# + 36 + 1. Below it, at 110 columns or more, each label stays beside its field and the panel is under the form.
SIDE_PANEL_COLUMNS = 117


class SettingsScreen(LiveScreen):
    # The app's breakpoints, and one more of this screen's: -side replaces -wide where the panel fits beside.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide"), (SIDE_PANEL_COLUMNS, "-side")]
    BINDINGS = [
        Binding("ctrl+a", "apply", "Apply", priority=True),
        Binding("ctrl+s", "save", "Apply + save", priority=True),
    ]

    def __init__(self, current: Callable[[], Settings], config_path: Path | None) -> None:
        """`current` reads the app's settings as they are now (login may have added credentials since)."""
        super().__init__()
        self.current = current
        self.config_path = config_path

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Horizontal(id="settings-body"):
            yield from self._form()
            # A table beside or under the form; at 80x24 (-short) the same figures packed in a line or two, so
            # they stay in view with the form, its buttons and what they did (app.tcss picks one of the two).
            with Vertical(id="engine-now"):
                yield Static(engine_now(None), id="engine-now-table")
                yield Static(engine_now_packed(None), id="engine-now-line")
        # Outside the scrolling form: the buttons and what they did stay in view however tall the form is. What
        # they did has its own line under them, the screen's whole width, so a long sentence (a path) stays short.
        with Horizontal(id="settings-buttons"):
            yield Button("Apply (Ctrl+A)", variant="primary", id="apply")
            yield Button("Apply and save (Ctrl+S)", variant="success", id="save")
        yield Label("", id="settings-result").set_styles("display: none;")
        yield KeyFooter()

    def _form(self) -> ComposeResult:
        # Not a Tab stop of its own: Tab goes from field to field, each scrolled into view as it takes the focus,
        # and the page keys scroll the form from any of its fields.
        with VerticalScroll(id="settings-form", can_focus=False):
            for field_id, label, _, _, _ in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    yield Input(id=field_id, classes="field-input")
                # Under its field, the form's whole width: beside it there may be only a few cells left.
                yield Label("", id=f"{field_id}-error", classes="field-error").set_styles("display: none;")
                if field_id == "media-workers":
                    yield Label("", id="disk-info", classes="field-hint")
            with Horizontal(classes="field"):
                yield Label("Takeout session (lower flood limits; approve it in Telegram)", classes="field-label")
                yield Switch(id="takeout")
            with Horizontal(classes="field"):
                yield Label("Download media", classes="field-label")
                yield Switch(id="download-media")
            with Horizontal(classes="field field-tall"):
                yield Label("Media kinds", classes="field-label")
                yield SelectionList[str](*((kind, kind) for kind in MEDIA_KINDS), id="media-kinds")

    def on_mount(self) -> None:
        self.query_one("#engine-now").border_title = "In the engine now"
        self.load(self.current())

    def load(self, settings: Settings) -> None:
        critical, standard = settings.pool_sizes()
        values = {
            "critical": str(critical),
            "standard": str(standard),
            "media-workers": str(settings.workers.media_download_workers),
            "concurrency": str(settings.export.max_concurrent_requests),
            "output-dir": str(settings.export.output_dir),
            "timezone": settings.export.timezone,
            "refresh": f"{settings.ui.refresh_hz:g}",
            # Its password or secret never reaches the screen: left as shown, the saved value stays.
            "proxy": redacted(settings.network.proxy),
        }
        for field_id, value in values.items():
            self.query_one(f"#{field_id}", Input).value = value
        self.query_one("#takeout", Switch).value = settings.export.takeout
        self.query_one("#download-media", Switch).value = settings.export.download_media
        kinds = self.query_one("#media-kinds", SelectionList)
        kinds.deselect_all()
        for kind in settings.export.media_kinds:
            kinds.select(kind)

    def refresh_live(self, live: LiveHistory) -> None:
        snap = live.latest
        self.query_one("#engine-now-table", Static).update(engine_now(snap))
        self.query_one("#engine-now-line", Static).update(engine_now_packed(snap))
        info = self.query_one("#disk-info", Label)
        if snap is None:
            info.update("Detected disk type and automatic value appear once the engine reports them.")
        else:
            info.update(
                f"Export disk: {snap.disk_type.upper() if snap.disk_type != 'unknown' else 'unknown type'}"
                f" → automatic value {snap.media_workers_auto} workers"
            )

    # -- building and validating ----------------------------------------------------------------

    def build(self) -> Settings | None:
        """New settings from the form, or None after marking every invalid field."""
        errors: dict[str, str] = {}
        raw = {field_id: self.query_one(f"#{field_id}", Input).value.strip() for field_id, *_ in FIELDS}
        parsed: dict[str, object] = {}
        for field_id, _, _, _, kind in FIELDS:
            text = raw[field_id]
            try:
                if kind == "int":
                    parsed[field_id] = int(text)
                elif kind == "float":
                    parsed[field_id] = float(text)
                else:
                    parsed[field_id] = text
            except ValueError:
                errors[field_id] = "a whole number, please" if kind == "int" else "a number, please"
        for field_id in ("critical", "standard"):
            if field_id not in errors and not 1 <= int(parsed[field_id]) <= 128:
                errors[field_id] = "from 1 to 128"

        settings = self.current()
        changes: dict[str, dict[str, object]] = {"workers": {}, "export": {}, "ui": {}, "network": {}}
        if "critical" not in errors and "standard" not in errors:
            critical, standard = int(parsed["critical"]), int(parsed["standard"])
            share = round(critical / (critical + standard), 3)
            # The config keeps a total and a share; only splits it can say exactly are accepted.
            if not 0.1 <= share <= 0.9 or split_threads(critical + standard, share) != (critical, standard):
                errors["critical"] = "between 10% and 90% of all workers"
            elif (critical, standard) != settings.pool_sizes():
                # Only when the user changed them: an untouched automatic total stays automatic in the file.
                changes["workers"]["max_threads"] = critical + standard
                changes["workers"]["critical_share"] = share
        for field_id, _, section, key, kind in FIELDS:
            if key is None or field_id in errors:
                continue
            value = parsed[field_id]
            if kind == "proxy" and value == redacted(settings.network.proxy):
                continue  # untouched (shown without its password): the saved proxy stays as it is
            try:
                settings_with(settings, section, **{key: value})
            except ConfigError as e:
                reason = str(e).split(" must be ", 1)[-1].rsplit(", got", 1)[0]
                if kind == "proxy":  # the forms are long; the field's hint names them, the error says what is off
                    reason = "a proxy URL: " + reason.split(", but ", 1)[-1]
                errors[field_id] = reason
                continue
            changes[section][key] = value
        changes["export"]["takeout"] = self.query_one("#takeout", Switch).value
        changes["export"]["download_media"] = self.query_one("#download-media", Switch).value
        changes["export"]["media_kinds"] = list(self.query_one("#media-kinds", SelectionList).selected)

        for field_id, *_ in FIELDS:
            error = self.query_one(f"#{field_id}-error", Label)
            error.update(f"must be {errors[field_id]}" if field_id in errors else "")
            error.display = field_id in errors  # an empty line under every field would waste a short screen
            self.query_one(f"#{field_id}", Input).set_class(field_id in errors, "invalid")
        if errors:
            self.say(f"Nothing applied: fix the {len(errors)} marked field{'s' if len(errors) > 1 else ''}.")
            return None
        for section, values in changes.items():
            settings = settings_with(settings, section, **values)
        return settings

    def action_apply(self) -> Settings | None:
        """The settings handed to the engine, or None when a field was refused."""
        settings = self.build()
        if settings is None:
            return None
        proxy_changed = settings.network.proxy != self.current().network.proxy
        self.post_message(SettingsApplied(settings))
        self.query_one("#proxy", Input).value = redacted(settings.network.proxy)  # a typed password leaves the screen
        critical, standard = settings.pool_sizes()
        self.say(
            f"Applied: pools {critical} + {standard}, media workers "
            f"{settings.workers.media_download_workers or 'auto'}, up to "
            f"{settings.export.max_concurrent_requests} requests at once."
            + (" The proxy is used from the next start (save it to keep it)." if proxy_changed else "")
        )
        return settings

    def action_save(self) -> None:
        proxy_before = self.current().network.proxy
        settings = self.action_apply()
        if settings is None:
            return
        try:
            path = save_settings(settings, self.config_path)
        except ConfigError as e:
            # The engine has them already: say so, and that the next start will not, and why.
            self.say(
                f"Applied to the running engine, but not saved (the next start uses the old values): {e}", error=True
            )
            return
        self.say(
            f"Applied and saved to {path}."
            + (" The proxy is used from the next start." if settings.network.proxy != proxy_before else "")
        )
        self.notify(f"Settings saved to {path}.")

    def say(self, text: str, *, error: bool = False) -> None:
        """What Apply or Save did, on its own line under the buttons."""
        result = self.query_one("#settings-result", Label)
        result.update(text)
        result.set_class(error, "-error")
        result.display = bool(text)

    @on(Button.Pressed, "#apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()
