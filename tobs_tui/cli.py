"""The `tobs-tui` command: global flags, `config` and `doctor`, logging, and the hooks other commands plug into.

Commands that live in other modules are imported only when chosen, so `export` never loads Textual
and `--version` loads nothing beyond this file.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import logging.handlers
import os
import platform
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import tomli_w

from tobs_tui import __version__, redaction
from tobs_tui.config import APP_NAME, ConfigError, Settings, default_config_path, load_settings, to_toml_dict
from tobs_tui.cpus import usable_cpus
from tobs_tui.network import env_proxy, redacted
from tobs_tui.terminal import terminal_text

SOURCE_ROOT = Path(__file__).resolve().parent.parent  # the directory holding the tobs_tui package
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_PROFILE = "realistic"
INTERRUPTED = "Interrupted; the next run continues where it stopped."  # an export stopped by Ctrl-C or SIGTERM


@dataclass(frozen=True)
class Hook:
    """A subcommand whose arguments and body live in another module."""

    name: str
    module: str
    add_arguments: str
    run: str
    help: str
    needs_settings: bool = True


HOOKS: tuple[Hook, ...] = (
    Hook(
        "export",
        "tobs_tui.headless",
        "add_export_arguments",
        "run_export",
        "export chats to the vault without the dashboard",
    ),
    Hook("chats", "tobs_tui.headless", "add_chats_arguments", "run_chats", "list your chats"),
    Hook(
        "verify",
        "tobs_tui.headless",
        "add_verify_arguments",
        "run_verify",
        "check a vault against its export state; --repair fetches what is missing",
    ),
    Hook(
        "emulator",
        "tobs_tui.emulator.cli",
        "add_arguments",
        "run",
        "run the local Telegram DC emulator",
        needs_settings=False,
    ),
)
TUI_MODULE = "tobs_tui.ui.launch"


def module_present(dotted: str) -> bool:
    """Whether a module exists on disk, found without importing it (imports would cost startup time)."""
    base = SOURCE_ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def available_hooks() -> list[Hook]:
    return [h for h in HOOKS if module_present(h.module)]


class CommandUnavailable(Exception):
    """A registered command's module is present but broken; reported as one line, exit 1."""


def _hook_function(hook: Hook, attr: str) -> Callable:
    try:
        return getattr(importlib.import_module(hook.module), attr)
    except (ImportError, AttributeError) as e:
        raise CommandUnavailable(
            f"`tobs-tui {hook.name}` cannot start: {hook.module}.{attr} failed to load ({e})."
        ) from e


# ---------------------------------------------------------------- parser


class _ProbeFailed(Exception):
    pass


class _ProbeParser(argparse.ArgumentParser):
    """Finds which subcommand was chosen without knowing its arguments; never prints or exits."""

    def error(self, message: str):  # type: ignore[override]
        raise _ProbeFailed(message)


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def folder_path(text: str) -> Path:
    """An argparse type: a folder's path, which may not be empty (Path("") would quietly be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "an empty path names no folder; give the folder's path (. for the current one)"
        )
    return Path(text)


def readable_file(text: str) -> Path:
    """An argparse type: a path to a file this user can read (what is in it is checked by whoever reads it)."""
    path = Path(text).expanduser()
    try:
        # O_NONBLOCK: a pipe there must not hang the command before it has said anything.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        reason = "no such file" if isinstance(e, FileNotFoundError) else (e.strerror or type(e).__name__).lower()
        raise argparse.ArgumentTypeError(f"cannot read {text!r} ({reason}); check the path") from None
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if not stat.S_ISREG(mode):
        reason = "is a directory" if stat.S_ISDIR(mode) else "not a file but a pipe or a device"
        raise argparse.ArgumentTypeError(f"cannot read {text!r} ({reason}); check the path")
    return path


def add_proxy_argument(parser: argparse.ArgumentParser, default: object = None) -> None:
    """`--proxy URL`; commands that connect take it after their name too (default SUPPRESS keeps the global one)."""
    parser.add_argument(
        "--proxy",
        metavar="URL",
        default=default,
        help="connect through this proxy for this run: socks5://[user:pass@]host:port, socks4://, http://, "
        "a proxy link as Telegram shares them (tg://proxy?…, tg://socks?…, https://t.me/proxy?…), or none (overrides"
        " [network] proxy)",
    )


def build_parser(selected: str | None = None, *, probe: bool = False) -> argparse.ArgumentParser:
    """The full parser; only the `selected` hook's module is imported to add its arguments.

    With `probe`, hooks get no arguments and help/version are left out, so parsing only finds the command.
    """
    cls = _ProbeParser if probe else argparse.ArgumentParser
    parser = cls(
        prog="tobs-tui",
        description="Archive Telegram chats into an Obsidian-friendly Markdown vault. "
        "Without a command, starts the dashboard.",
        add_help=not probe,
    )
    if not probe:
        parser.add_argument("--version", action="version", version=f"tobs-tui {__version__}")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="settings file (default: $TOBS_CONFIG, else the platform config dir)",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="INFO", type=str.upper, help="detail of the log file (default: INFO)"
    )
    parser.add_argument("--output-dir", type=folder_path, metavar="DIR", help="export directory for this run")
    parser.add_argument(
        "--media-workers",
        type=_whole_number,
        metavar="N",
        help="parallel media downloads for this run (1..64; 0 = automatic from the disk type)",
    )
    parser.add_argument(
        "--max-threads",
        type=_whole_number,
        metavar="N",
        help="total worker threads for this run (2..256; 0 = automatic from the CPU count)",
    )
    add_proxy_argument(parser)
    parser.add_argument(
        "--demo", action="store_true", help="start the dashboard on the built-in Telegram emulator (no account needed)"
    )
    # dest differs from the names run_app reads: the `emulator` command has its own --profile and --world,
    # and a subcommand's values would overwrite same-named global ones.
    parser.add_argument(
        "--profile",
        dest="demo_profile",
        metavar="NAME",
        help=f"emulator profile for --demo (default: {DEFAULT_PROFILE})",
    )
    parser.add_argument(
        "--world", dest="demo_world", type=readable_file, metavar="FILE", help="emulator world file for --demo"
    )

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    config = sub.add_parser(
        "config", help="where the settings file is, what it says, whether it is valid", add_help=not probe
    )
    config.add_argument(
        "action",
        choices=("path", "show", "check"),
        help="path: print the settings file's path; show: print the effective settings; check: validate the file",
    )
    sub.add_parser("doctor", help="show what the engine would use on this machine, and why", add_help=not probe)
    for hook in available_hooks():
        p = sub.add_parser(hook.name, help=hook.help, add_help=not probe)
        if hook.name == selected and not probe:
            _hook_function(hook, hook.add_arguments)(p)
    return parser


def chosen_command(argv: list[str]) -> str | None:
    try:
        args, _ = build_parser(probe=True).parse_known_args(argv)
    except _ProbeFailed:
        return None  # the real parser will report the mistake with full usage
    return args.command


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    if args.command is not None and (args.demo or args.demo_profile or args.demo_world):
        parser.error("--demo, --profile and --world start the dashboard; use them without a command")
    if (args.demo_profile or args.demo_world) and not args.demo:
        parser.error("--profile and --world choose the demo's emulator; add --demo")
    if args.demo_profile is not None:
        # Here, not as argparse choices: the profiles live in the emulator, which --version must not load.
        from tobs_tui.emulator.profiles import PROFILES

        if args.demo_profile not in PROFILES:
            names = ", ".join(repr(name) for name in sorted(PROFILES))
            parser.error(f"argument --profile: invalid choice: {args.demo_profile!r} (choose from {names})")
    return args


# The settings each global flag overrides: (section, key) -> (flag, its dest in the parsed arguments).
FLAG_SETTINGS: dict[tuple[str, str], tuple[str, str]] = {
    ("export", "output_dir"): ("--output-dir", "output_dir"),
    ("workers", "media_download_workers"): ("--media-workers", "media_workers"),
    ("workers", "max_threads"): ("--max-threads", "max_threads"),
    ("network", "proxy"): ("--proxy", "proxy"),
}


def settings_overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    overrides: dict[str, dict[str, object]] = {}
    for (section, key), (_, dest) in FLAG_SETTINGS.items():
        overrides.setdefault(section, {})[key] = getattr(args, dest, None)
    proxy = overrides["network"]["proxy"]
    if isinstance(proxy, str) and proxy.strip().lower() == "none":
        overrides["network"]["proxy"] = ""  # `--proxy none`: connect directly whatever the file says
    return overrides


def load_for(args: argparse.Namespace) -> Settings:
    flags = {where: flag for where, (flag, _) in FLAG_SETTINGS.items()}
    return load_settings(args.config, overrides=settings_overrides(args), flags=flags)


# ---------------------------------------------------------------- logging


class SecretRedactor(logging.Filter):
    """Replaces known secrets (api hash, phone number) in every record before any handler writes it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        redaction.add(*secrets)
        self._from: frozenset[str] | None = None
        self.secrets: list[str] = []

    def _current(self) -> list[str]:
        """The secrets known now (a login adds some while the run goes on), longest first, so a secret
        containing another is replaced whole."""
        known = redaction.known()
        if known is not self._from:
            self._from, self.secrets = known, sorted(known, key=len, reverse=True)
        return self.secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if self._current():
            text = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            for s in self.secrets:
                text = text.replace(s, "[redacted]")
                if record.exc_text:
                    record.exc_text = record.exc_text.replace(s, "[redacted]")
            record.msg, record.args = text, None
        return True


class TerminalFormatter(logging.Formatter):
    """Records on a terminal name chats and people: their text is shown with controls escaped (terminal.py)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_text(super().formatMessage(record))


LOG_RUNS_KEPT = 10  # run logs kept in the log dir; older ones go when a run starts
LOG_FILE_BYTES = 5_000_000  # one run's log rotates at this size
LOG_FILE_BACKUPS = 2  # rotated files kept per run
_RUN_LOG = re.compile(r"^tobs-tui-\d{8}-\d{6}-(\d+)\.log$")
_run_log: Path | None = None


def log_dir() -> Path:
    return platformdirs.user_log_path(APP_NAME)


def _not_telethon_chatter(record: logging.LogRecord) -> bool:
    # Telethon warns on every connect attempt it retries; the user gets our one sentence when it gives up, and
    # the log file keeps each attempt.
    return record.levelno >= logging.ERROR or not record.name.startswith("telethon")


def log_file_path() -> Path:
    """This process's log file, `tobs-tui-<start time>-<pid>.log`: every run writes its own, so two runs at once
    never interleave or rotate each other's lines."""
    global _run_log
    directory = log_dir()
    if _run_log is None or _run_log.parent != directory:
        _run_log = directory / f"tobs-tui-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    return _run_log


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


def prune_run_logs(directory: Path, keep: int = LOG_RUNS_KEPT, current: Path | None = None) -> None:
    """Delete the files of all but the newest `keep` runs (a run's log and its rotated copies); the logs of runs
    still going stay whatever their age."""
    runs: dict[str, list[Path]] = {}
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for path in entries:
        base = path.name
        if base.rsplit(".", 1)[-1].isdigit():
            base = base.rsplit(".", 1)[0]  # a rotated copy: "<run>.log.1"
        if _RUN_LOG.match(base):
            runs.setdefault(base, []).append(path)
    for base in sorted(runs)[: max(0, len(runs) - keep)]:
        pid = int(_RUN_LOG.match(base).group(1))  # type: ignore[union-attr]
        if (current is not None and base == current.name) or _pid_alive(pid):
            continue
        for path in runs[base]:
            try:
                path.unlink()
            except OSError:
                pass


def setup_logging(level: str, *, secrets: Iterable[str] = (), stderr: bool = True) -> list[logging.Handler]:
    """This run's log file at `level` under the user log dir, plus warnings on stderr unless the dashboard owns
    the screen."""
    redactor = SecretRedactor(secrets)
    handlers: list[logging.Handler] = []
    path = log_file_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Logs name chats and people: the directory is private, so rotated files are too.
        path.parent.chmod(0o700)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    except OSError as e:
        print(f"tobs-tui: cannot write the log file {path} ({e.strerror}); continuing without it.", file=sys.stderr)
    else:
        prune_run_logs(path.parent, current=path)
        file_handler.setLevel(level)
        # The pid too: render and media worker processes, and a run's lines pasted into a report, stay apart.
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        handlers.append(file_handler)
    if stderr:
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(max(logging.WARNING, logging.getLevelName(level)))
        err.setFormatter(TerminalFormatter("tobs-tui: %(levelname)s: %(message)s"))
        err.addFilter(_not_telethon_chatter)
        handlers.append(err)
    root = logging.getLogger()
    root.setLevel(level)
    for h in handlers:
        h.addFilter(redactor)
        root.addHandler(h)
    return handlers


def teardown_logging(handlers: list[logging.Handler]) -> None:
    root = logging.getLogger()
    for h in handlers:
        root.removeHandler(h)
        h.close()


# ---------------------------------------------------------------- config and doctor


def _config_path(args: argparse.Namespace) -> Path:
    return args.config.expanduser() if args.config is not None else default_config_path()


def _toml_line(key: str, value: object) -> str:
    if isinstance(value, list):  # tomli-w puts each item on its own line; one line reads better here
        items = (tomli_w.dumps({"v": item}).strip().removeprefix("v = ") for item in value)
        return f"{key} = [{', '.join(items)}]"
    return tomli_w.dumps({key: value}).strip()


def render_settings(settings: Settings) -> str:
    """The effective settings as TOML, each value not from the defaults marked with where it came from.

    Secrets are shown only as set/unset, commented out so the output stays valid to paste into a file.
    """
    source = f"from {settings.source}" if settings.source else "no settings file: defaults"
    lines = [f"# effective settings ({source})"]
    for section, table in to_toml_dict(settings, effective=True).items():
        lines.append(f"\n[{section}]")
        for key, value in table.items():
            origin = settings.origin_of(section, key)
            if key in ("api_hash", "phone") and value:
                line = f"# {key} = <set, hidden>"
            elif key == "proxy" and value != redacted(str(value)):
                line = "# " + _toml_line(key, redacted(str(value))) + " (password or secret hidden)"
            else:
                line = _toml_line(key, value)
            lines.append(line if origin == "default" else f"{line}  # {origin}")
    return "\n".join(lines)


def cmd_config(args: argparse.Namespace) -> int:
    path = _config_path(args)
    if args.action == "path":
        print(path)
        return 0
    settings = load_for(args)
    if args.action == "show":
        print(render_settings(settings))
        return 0
    if settings.source is None:
        print(f"No settings file at {path}; the defaults apply.")
    else:
        count = len(settings.file_keys)
        print(f"{settings.source} is valid ({count} setting{'s' if count != 1 else ''} set, the rest default).")
    for o in settings.overrides:
        print(f"[{o.section}] {o.key} is overridden by {o.origin}.")
    return 0


def _dist_version(name: str) -> str:
    from importlib import metadata  # here, not at the top: it costs --version a visible share of its start-up

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def doctor_report(settings: Settings, config_path: Path) -> list[tuple[str, str]]:
    """What the engine would use here, as (label, value) rows; every value says where it came from."""
    from tobs_tui.config import default_total_threads
    from tobs_tui.engine import MAX_RENDER_WORKERS, media_workers_for, render_workers_for, resolve_media_workers

    out_dir = settings.export.output_dir
    if out_dir.is_dir():
        out_state = "exists"
    elif out_dir.exists():
        out_state = "exists but is not a directory: exports will fail"
    elif (blocker := next((p for p in reversed(out_dir.parents) if p.exists() and not p.is_dir()), None)) is not None:
        out_state = f"cannot be created: {blocker} is a file, not a folder; exports will fail"
    else:
        out_state = "will be created"
    # env={}: MEDIA_WORKERS has already been applied to the settings, with its origin recorded.
    workers, disk, _ = resolve_media_workers(out_dir, settings.workers.media_download_workers, env={})
    auto = media_workers_for(disk.kind)
    if settings.workers.media_download_workers:
        workers_from = f"{settings.origin_of('workers', 'media_download_workers')}; auto would be {auto}"
    else:
        workers_from = f"auto from the disk type: {disk.kind}"

    cpus = usable_cpus()
    machine = os.cpu_count() or cpus
    cpus_row = f"{cpus} this process may use" + (f" (of the machine's {machine})" if machine != cpus else "")
    renderers = render_workers_for(cpus)
    render_row = (
        f"{renderers} worker processes (one per CPU, at most {MAX_RENDER_WORKERS})"
        if renderers
        else "`tobs-tui export` in its own process (one CPU: a worker would only take turns with it); the dashboard"
        " in 1 worker process, so keys answer while it renders"
    )
    total = settings.total_threads()
    if settings.workers.max_threads:
        threads_from = settings.origin_of("workers", "max_threads")
    else:
        threads_from = f"auto: {cpus} CPU{'s' if cpus != 1 else ''} x 1.5, at least 4 = {default_total_threads()}"
    critical, standard = settings.pool_sizes()
    share = settings.workers.critical_share

    config_state = "exists" if settings.source else "not found: defaults apply"
    proxy = settings.network.parsed_proxy()
    if proxy is not None:
        proxy_row = f"{proxy.describe()} ({settings.origin_of('network', 'proxy')})"
    else:
        proxy_row = "none: a direct connection"
        unused = env_proxy(os.environ)
        if unused is not None and not settings.network.use_env_proxy and "network.proxy" not in settings.file_keys:
            proxy_row += f" ({unused[0]} is set but not used: set [network] use_env_proxy = true to use it)"
    return [
        ("tobs-tui", __version__),
        ("config file", f"{config_path} ({config_state})"),
        ("log files", f"{log_dir()} (one per run, the newest {LOG_RUNS_KEPT} runs kept)"),
        (
            "session file",
            f"{settings.telegram.session_path} "
            f"({'exists' if settings.telegram.session_path.exists() else 'not logged in yet'})",
        ),
        ("proxy", proxy_row),
        ("export dir", f"{out_dir} ({out_state})"),
        ("disk", f"{disk.kind} ({disk.reason})"),
        ("media workers", f"{workers} ({workers_from})"),
        ("cpus", cpus_row),
        ("rendering", render_row),
        ("threads", f"{total} ({threads_from})"),
        ("pools", f"critical {critical}, standard {standard} (critical share {share:g})"),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("telethon", _dist_version("telethon")),
        ("textual", _dist_version("textual")),
        ("platform", f"{platform.system()} {platform.release()} {platform.machine()}"),
    ]


def cmd_doctor(args: argparse.Namespace) -> int:
    rows = doctor_report(load_for(args), _config_path(args))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


# ---------------------------------------------------------------- dispatch


def _run(args: argparse.Namespace) -> int:
    if args.command == "config":
        return cmd_config(args)
    if args.command == "doctor":
        return cmd_doctor(args)

    hook = next((h for h in HOOKS if h.name == args.command), None)
    if hook is not None:
        run = _hook_function(hook, hook.run)
        if not hook.needs_settings:
            handlers = setup_logging(args.log_level)
            try:
                return run(args)
            finally:
                teardown_logging(handlers)
        settings = load_for(args)
        handlers = setup_logging(args.log_level, secrets=settings.secrets())
        try:
            return run(args, settings)
        finally:
            teardown_logging(handlers)

    if not module_present(TUI_MODULE):
        print(
            "tobs-tui: the dashboard is not part of this install; run `tobs-tui --help` for the commands.",
            file=sys.stderr,
        )
        return 1
    settings = load_for(args)
    args.profile = args.demo_profile or DEFAULT_PROFILE
    args.world = args.demo_world
    # The dashboard owns the terminal: logs go to the file only.
    handlers = setup_logging(args.log_level, secrets=settings.secrets(), stderr=False)
    try:
        run_app = importlib.import_module(TUI_MODULE).run_app
        return run_app(args, settings)
    finally:
        teardown_logging(handlers)


def _output_gone() -> None:
    """Standard output's reader has gone (`| head`): what is still to print goes nowhere, and Python's flush at
    exit finds nothing to complain about."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _os_error_sentence(e: OSError) -> str:
    """An OSError no command said better: what failed, on which path, and what to do."""
    named = f" ({str(e.filename)[:80]}{'…' if len(str(e.filename)) > 80 else ''})" if e.filename else ""
    if e.errno == errno.ENAMETOOLONG:
        return f"A path is too long for the file system{named}; choose a shorter one."
    if e.errno in (errno.ENOSPC, errno.EDQUOT) and not e.filename:
        return "Could not write the output: the disk it goes to is full; free some space or send it elsewhere."
    return f"{e.strerror or e}{named}; check that path and try again."


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    argv = sys.argv[1:] if argv is None else list(argv)
    # Started with standard output or error closed (`>&-`): they go nowhere rather than failing every print.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process's whole life
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    try:
        try:
            args = parse_args(argv)
        except SystemExit as e:  # --help, --version, usage errors: argparse already printed
            return e.code if isinstance(e.code, int) else 0
        args.started = started  # a run's wall time counts from here: start-up and connecting included
        return _run(args)
    except ConfigError as e:
        for message in e.messages:
            print(f"tobs-tui: {terminal_text(message)}", file=sys.stderr)
        return 2
    except CommandUnavailable as e:
        print(f"tobs-tui: {terminal_text(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before a command took charge of it (loading, connecting)
        if chosen_command(argv) == "export":
            print(INTERRUPTED, file=sys.stderr)
        return 130
    except BrokenPipeError:
        _output_gone()
        if chosen_command(argv) == "export":
            print(
                "tobs-tui: The program reading the output stopped, so the export stopped; the next run continues"
                " where it stopped.",
                file=sys.stderr,
            )
            return 1
        return 0  # a listing cut short by its reader (`| head`) is what was asked for
    except OSError as e:
        with contextlib.suppress(OSError):
            print(f"tobs-tui: {terminal_text(_os_error_sentence(e))}", file=sys.stderr)
        return 2 if e.errno == errno.ENAMETOOLONG else 1
