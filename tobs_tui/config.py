"""Settings: frozen dataclasses, TOML load/save, env and command-line overrides, validation.

Precedence: defaults < TOML file < environment (MEDIA_WORKERS, MAX_THREADS; ALL_PROXY or HTTPS_PROXY only with
[network] use_env_proxy = true) < command-line overrides.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import platformdirs
import tomli_w

from tobs_tui.cpus import usable_cpus
from tobs_tui.filekinds import file_kind
from tobs_tui.network import PROXY_FORMS, Proxy, ProxyError, env_proxy, parse_proxy, redacted

APP_NAME = "tobs-tui"

MEDIA_KINDS: tuple[str, ...] = ("photo", "video", "document", "audio", "voice", "round", "sticker", "animation")
FORMATS: tuple[str, ...] = ("markdown", "json")


def default_total_threads(cpu_count: int | None = None) -> int:
    """int(cpu x 1.5), at least 4, for the CPUs this process may use (MAX_THREADS, when set, is applied by the
    config layer)."""
    cpus = cpu_count if cpu_count is not None else usable_cpus()
    if cpus < 1:
        raise ValueError(f"cpu_count must be >= 1 (got {cpus})")
    return max(4, int(cpus * 1.5))


def split_threads(total: int, critical_share: float = 0.7) -> tuple[int, int]:
    """(critical, standard) with about `critical_share` of `total` critical, each at least 1."""
    if total < 2:
        raise ValueError(f"need at least 2 threads to split into two pools (got {total})")
    if not 0.0 < critical_share < 1.0:
        raise ValueError(f"critical_share must be between 0 and 1 (got {critical_share})")
    critical = min(total - 1, max(1, round(total * critical_share)))
    return critical, total - critical


class ConfigError(Exception):
    """Settings the user wrote (file, environment, flag) are unusable: `messages` holds one sentence per fault,
    each saying what to do; str() is all of them."""

    def __init__(self, *messages: str) -> None:
        super().__init__(" ".join(messages))
        self.messages = messages


def _default_session_path() -> Path:
    return platformdirs.user_data_path(APP_NAME) / "tobs.session"


def _default_output_dir() -> Path:
    return Path.home() / "TelegramVault"


@dataclass(frozen=True)
class TelegramSettings:
    api_id: int = 0
    api_hash: str = ""
    phone: str = ""
    session_path: Path = field(default_factory=_default_session_path)


@dataclass(frozen=True)
class ExportSettings:
    output_dir: Path = field(default_factory=_default_output_dir)
    media_kinds: tuple[str, ...] = MEDIA_KINDS
    max_file_size_mb: int = 0  # 0 = no limit
    download_media: bool = True
    takeout: bool = False
    timezone: str = "UTC"  # IANA name, or "local"
    formats: tuple[str, ...] = FORMATS
    max_concurrent_requests: int = 8  # cap of the adaptive request concurrency
    request_timeout_s: float = 30.0


@dataclass(frozen=True)
class WorkerSettings:
    max_threads: int = 0  # 0 = auto: int(cpu * 1.5), at least 4
    critical_share: float = 0.7
    media_download_workers: int = 0  # 0 = auto from the export dir's disk type
    parts_per_file: int = 4  # parts of one large file in flight at once
    postprocess: bool = False


@dataclass(frozen=True)
class UiSettings:
    refresh_hz: float = 2.0


@dataclass(frozen=True)
class NetworkSettings:
    proxy: str = ""  # "" = a direct connection; see tobs_tui/network.py for the forms
    use_env_proxy: bool = False  # take ALL_PROXY / HTTPS_PROXY from the environment
    # Reach Telegram's data centers at their IPv6 addresses (from Telegram's own list, as its apps do): for a
    # host with no IPv4 route. Off: IPv4, which every network that reaches Telegram has.
    ipv6: bool = False

    def parsed_proxy(self) -> Proxy | None:
        """The proxy connections go through (validated when the settings were read)."""
        return parse_proxy(self.proxy)


@dataclass(frozen=True)
class Override:
    """A value that came from the environment or the command line for this run only.

    `saved_value` is what the file (or the default) said, so saving never writes a run-only value back.
    """

    section: str
    key: str
    origin: str  # the environment variable's name, or "command line"
    saved_value: object


@dataclass(frozen=True)
class Settings:
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    source: Path | None = None  # the file these settings were read from, if any
    file_keys: frozenset[str] = frozenset()  # "section.key" names the file set explicitly
    changed: frozenset[str] = frozenset()  # "section.key" names given new values since loading
    overrides: tuple[Override, ...] = ()

    def total_threads(self) -> int:
        return self.workers.max_threads or default_total_threads()

    def pool_sizes(self) -> tuple[int, int]:
        """(critical, standard) worker counts for the engine's two pools."""
        return split_threads(self.total_threads(), self.workers.critical_share)

    def secrets(self) -> tuple[str, ...]:
        """What a log must never show: the api hash, the phone number, the proxy's password or secret."""
        proxy = self.network.parsed_proxy()
        return (self.telegram.api_hash, self.telegram.phone, *(proxy.secrets() if proxy else ()))

    def origin_of(self, section: str, key: str) -> str:
        """Where a value came from: an env variable's name, "command line", "config file" or "default"."""
        for o in self.overrides:
            if o.section == section and o.key == key:
                return o.origin
        return "config file" if f"{section}.{key}" in self.file_keys else "default"


_SECTION_TYPES: dict[str, type] = {
    "telegram": TelegramSettings,
    "export": ExportSettings,
    "workers": WorkerSettings,
    "ui": UiSettings,
    "network": NetworkSettings,
}

ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "MEDIA_WORKERS": ("workers", "media_download_workers"),
    "MAX_THREADS": ("workers", "max_threads"),
}


# ---------------------------------------------------------------- validation


class _Invalid(Exception):
    """Raised by a validator with the description of what is allowed."""

    def __init__(self, allowed: str) -> None:
        super().__init__(allowed)
        self.allowed = allowed


# A validator turns a raw value into the typed setting; `base` anchors relative paths.
Validator = Callable[[object, Path], object]


def _int(lo: int, hi: int, *, auto_zero: bool = False) -> Validator:
    allowed = f"a whole number from {lo} to {hi}"
    if auto_zero:
        allowed = f"0 (automatic) or {allowed}"

    def check(value: object, base: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(allowed)
        if not (lo <= value <= hi or (auto_zero and value == 0)):
            raise _Invalid(allowed)
        return value

    return check


def _float(lo: float, hi: float) -> Validator:
    allowed = f"a number from {lo:g} to {hi:g}"

    def check(value: object, base: Path) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Invalid(allowed)
        number = float(value)
        if math.isnan(number) or not lo <= number <= hi:
            raise _Invalid(allowed)
        return number

    return check


def _bool(value: object, base: Path) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("true or false")
    return value


def _str(value: object, base: Path) -> str:
    if not isinstance(value, str):
        raise _Invalid("a quoted string")
    return value.strip()


def _path(value: object, base: Path) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise _Invalid("a non-empty path string")
    text = os.fspath(value).strip()
    if "\0" in text:  # no file system takes one: each would fail later, in the middle of a run
        raise _Invalid("a path without a NUL character (\\u0000)")
    try:
        p = Path(text).expanduser()
    except RuntimeError:  # "~name" of a user that does not exist, or no home directory to expand "~" to
        raise _Invalid("a path whose ~ can be expanded (no such user or home directory)") from None
    return p if p.is_absolute() else base / p


def _subset(allowed_values: tuple[str, ...], *, non_empty: bool) -> Validator:
    names = ", ".join(f'"{v}"' for v in allowed_values)
    allowed = f"a list of {'one or more of' if non_empty else 'any of'} {names}"

    def check(value: object, base: Path) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _Invalid(allowed)
        if any(v not in allowed_values for v in value) or (non_empty and not value):
            raise _Invalid(allowed)
        return tuple(dict.fromkeys(value))  # keeps order, drops repeats

    return check


def _timezone(value: object, base: Path) -> str:
    allowed = 'an IANA time zone name such as "Europe/Berlin", or "UTC", or "local"'
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(allowed)
    name = value.strip()
    if name in ("UTC", "local"):
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: an unreadable time zone database
        raise _Invalid(allowed) from None
    return name


def _proxy(value: object, base: Path) -> str:
    if not isinstance(value, str):
        raise _Invalid(f'a quoted proxy URL ({PROXY_FORMS}), or "" for none')
    try:
        parse_proxy(value)
    except ProxyError as e:
        raise _Invalid(f"{PROXY_FORMS}, but {e}") from None
    return value.strip()


# Keys whose values hold secrets: a message about a bad value shows it with them blanked out.
_SECRET_VALUES: dict[tuple[str, str], Callable[[str], str]] = {("network", "proxy"): redacted}

_VALIDATORS: dict[str, dict[str, Validator]] = {
    "telegram": {
        "api_id": _int(0, 2**31 - 1),
        "api_hash": _str,
        "phone": _str,
        "session_path": _path,
    },
    "export": {
        "output_dir": _path,
        "media_kinds": _subset(MEDIA_KINDS, non_empty=False),
        "max_file_size_mb": _int(0, 1_000_000),
        "download_media": _bool,
        "takeout": _bool,
        "timezone": _timezone,
        "formats": _subset(FORMATS, non_empty=True),
        "max_concurrent_requests": _int(1, 64),
        "request_timeout_s": _float(1, 600),
    },
    "workers": {
        "max_threads": _int(2, 256, auto_zero=True),
        "critical_share": _float(0.1, 0.9),
        "media_download_workers": _int(1, 64, auto_zero=True),
        "parts_per_file": _int(1, 16),
        "postprocess": _bool,
    },
    "ui": {
        "refresh_hz": _float(1, 4),
    },
    "network": {
        "proxy": _proxy,
        "use_env_proxy": _bool,
        "ipv6": _bool,
    },
}


def _show(value: object, limit: int = 60) -> str:
    """A value as the user wrote it in TOML, on one line: control characters escaped, long values shortened."""
    text = _toml(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _toml(value: object) -> str:
    """TOML's spelling of a parsed value (true, not True; ["a"], not ['a']; { k = 1 } for a table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def _check_section(section: str, where: str) -> dict[str, Validator]:
    try:
        return _VALIDATORS[section]
    except KeyError:
        allowed = ", ".join(f"[{s}]" for s in _VALIDATORS)
        raise ConfigError(f"{where}: unknown section [{_show(section)[1:-1]}]; the sections are {allowed}.") from None


def _check_value(section: str, key: str, value: object, where: str, base: Path) -> object:
    validators = _check_section(section, where)
    if key not in validators:
        raise ConfigError(f"{where}: unknown key {key!r} in [{section}]; the keys there are {', '.join(validators)}.")
    try:
        return validators[key](value, base)
    except _Invalid as e:
        hide = _SECRET_VALUES.get((section, key))
        shown = _show(hide(value) if hide is not None and isinstance(value, str) else value)
        raise ConfigError(f"{where}: [{section}] {key} must be {e.allowed}, got {shown}.") from None


# ---------------------------------------------------------------- load


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """TOBS_CONFIG if set, else the platform's user config dir (e.g. ~/.config/tobs-tui/config.toml)."""
    env = os.environ if env is None else env
    named = env.get("TOBS_CONFIG", "").strip()
    if named:
        return Path(named).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


# No setting nests deeper than a list in a section; a file nested far deeper is refused before anything walks it,
# so no check or message about it can run out of stack.
MAX_NESTING = 32


def nesting_depth(value: object, limit: int = MAX_NESTING) -> int:
    """How deeply lists and tables nest in `value` (a scalar is 0), counted level by level without recursion and
    no further than `limit` + 1."""
    depth, level = 0, [value]
    while depth <= limit:
        containers = [v for v in level if isinstance(v, (dict, list))]
        if not containers:
            break
        depth += 1
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]
    return depth


def _parse_fault(exc: BaseException) -> str | None:
    """Why a TOML parser gave up on a file that may be valid TOML, in words, or None for a plain syntax error."""
    if isinstance(exc, RecursionError):
        return "is nested too deeply to read"
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return "holds a number too large to read (more than 4300 digits)"
    return None


# A named pipe at the config path would make a plain open wait for a writer forever (doctor, `config show`, an
# export and a save all hung): files are opened without blocking and anything but a regular file is refused.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class _NotRegular(Exception):
    """What is at a config path is not a regular file; str() says what it is ("a named pipe")."""


def _is_devnull(st: os.stat_result) -> bool:
    """Whether `st` is the null device: `TOBS_CONFIG=/dev/null` is the usual way to say "no settings file"."""
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and (st.st_dev, st.st_ino) == (null.st_dev, null.st_ino)


def _read_regular(path: Path, *, follow: bool) -> bytes:
    """The bytes of the regular file at `path`, opened without blocking; `follow`: a symbolic link to one counts
    (a config kept in a dotfiles repository). Raises _NotRegular, or OSError as os.open does."""
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | (0 if follow else _NOFOLLOW))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) and not (follow and _is_devnull(st)):
            raise _NotRegular(file_kind(st.st_mode))
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        return fh.read()


def _read_toml(path: Path) -> dict[str, object]:
    try:
        raw = _read_regular(path, follow=True)
        # A byte order mark is not TOML, but editors on Windows write one: it says nothing, so it goes.
        data = tomllib.loads(raw.decode("utf-8").removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Config file {path} is not valid TOML ({e}); fix that line or delete the file.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {path} is not UTF-8 text; save it as UTF-8.") from None
    except (RecursionError, ValueError) as e:
        fault = _parse_fault(e)
        if fault is None:
            raise
        raise ConfigError(f"Config file {path} {fault}; fix the file.") from None
    except _NotRegular as e:
        raise ConfigError(
            f"Cannot read config file {path} (it is {e}, not a regular file); put a TOML file there or point "
            "TOBS_CONFIG (or --config) at one."
        ) from None
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(f"Cannot read config file {path} ({reason}); check that it is a readable file.") from None
    if nesting_depth(data) > MAX_NESTING:
        raise ConfigError(f"Config file {path} is nested too deeply (more than {MAX_NESTING} levels); fix the file.")
    return data


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    flags: Mapping[tuple[str, str], str] | None = None,
) -> Settings:
    """Settings from defaults, the TOML file, the environment and `overrides` (command-line values; None skips).
    `flags` names the command-line flag of a (section, key), so an error about its value names the flag.

    A missing file at the default location (or at TOBS_CONFIG) means defaults; a missing `path` is an error.
    """
    env = os.environ if env is None else env
    explicit = path is not None
    path = Path(path).expanduser() if path is not None else default_config_path(env)

    raw: dict[str, object] = {}
    source: Path | None = None
    if path.exists() or explicit:
        if explicit and not path.exists():
            raise ConfigError(f"Config file {path} does not exist; create it (see config.example.toml) or omit it.")
        raw = _read_toml(path)
        source = path

    where = f"Config file {path}"
    values: dict[str, dict[str, object]] = {
        name: {f.name: getattr(section, f.name) for f in fields(section)}
        for name, section in ((n, t()) for n, t in _SECTION_TYPES.items())
    }
    # Every fault is collected, so one run of `config check` names them all instead of one per edit.
    problems: list[str] = []
    file_keys: set[str] = set()
    for section, table in raw.items():
        if not isinstance(table, dict):
            if section in _VALIDATORS:
                problems.append(f"{where}: [{section}] must be a table of keys, got {_show(table)}.")
            else:
                sections = ", ".join(f"[{s}]" for s in _VALIDATORS)
                problems.append(f"{where}: unknown top-level key {section!r}; settings go in the sections {sections}.")
            continue
        try:
            _check_section(section, where)
        except ConfigError as e:
            problems.extend(e.messages)
            continue
        for key, value in table.items():
            try:
                values[section][key] = _check_value(section, key, value, where, path.parent)
            except ConfigError as e:
                problems.extend(e.messages)
            else:
                file_keys.add(f"{section}.{key}")

    applied: list[Override] = []
    for name, (section, key) in ENV_OVERRIDES.items():
        text = env.get(name, "").strip()
        if not text:
            continue
        try:
            parsed: object = int(text)
        except ValueError:
            parsed = text  # the validator rejects it with the allowed range
        try:
            number = _VALIDATORS[section][key](parsed, Path.cwd())  # one rule: 0 is automatic here too
        except _Invalid as e:
            problems.append(f"Environment variable {name} must be {e.allowed}, got {_show(text)}; fix it or unset it.")
            continue
        applied.append(Override(section, key, name, values[section][key]))
        values[section][key] = number

    found = env_proxy(env) if values["network"]["use_env_proxy"] else None
    if found is not None:
        name, text = found
        try:
            proxy = _proxy(text, Path.cwd())
        except _Invalid as e:
            raise ConfigError(
                f"Environment variable {name} must be {e.allowed}, got {_show(redacted(text))}; fix it, unset it "
                "or set [network] use_env_proxy = false."
            ) from None
        applied.append(Override("network", "proxy", name, values["network"]["proxy"]))
        values["network"]["proxy"] = proxy

    for section, table in (overrides or {}).items():
        for key, value in table.items():
            if value is None:
                continue
            flag = (flags or {}).get((section, key))
            try:
                if flag is None:
                    checked = _check_value(section, key, value, "Command line", Path.cwd())
                else:
                    checked = _VALIDATORS[section][key](value, Path.cwd())
            except ConfigError as e:
                problems.extend(e.messages)
                continue
            except _Invalid as e:
                secret = _SECRET_VALUES.get((section, key))
                shown = secret(value) if secret is not None and isinstance(value, str) else value
                problems.append(f"{flag} must be {e.allowed}, got {_show(shown)}.")
                continue
            saved = next((o.saved_value for o in applied if (o.section, o.key) == (section, key)), values[section][key])
            applied = [o for o in applied if (o.section, o.key) != (section, key)]
            applied.append(Override(section, key, "command line", saved))
            values[section][key] = checked

    if problems:
        raise ConfigError(*problems)
    return Settings(
        **{name: t(**values[name]) for name, t in _SECTION_TYPES.items()},
        source=source,
        file_keys=frozenset(file_keys),
        overrides=tuple(applied),
    )


def settings_with(settings: Settings, section: str, **changes: object) -> Settings:
    """A validated copy with `changes` applied to one section (what the settings panel saves).

    Changed keys stop being run-only overrides: the user chose them, so saving writes them.
    """
    where = "Setting"
    _check_section(section, where)
    checked = {key: _check_value(section, key, value, where, Path.cwd()) for key, value in changes.items()}
    current = getattr(settings, section)
    return replace(
        settings,
        **{section: replace(current, **checked)},
        file_keys=settings.file_keys | {f"{section}.{k}" for k in checked},
        changed=settings.changed | {f"{section}.{k}" for k, v in checked.items() if v != getattr(current, k)},
        overrides=tuple(o for o in settings.overrides if not (o.section == section and o.key in checked)),
    )


# ---------------------------------------------------------------- save


def _toml_value(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def to_toml_dict(settings: Settings, *, effective: bool = False) -> dict[str, dict[str, object]]:
    """The settings as TOML-ready tables; run-only overrides are replaced by their saved values unless `effective`."""
    saved = {} if effective else {(o.section, o.key): o.saved_value for o in settings.overrides}
    out: dict[str, dict[str, object]] = {}
    for name in _SECTION_TYPES:
        section = getattr(settings, name)
        out[name] = {f.name: _toml_value(saved.get((name, f.name), getattr(section, f.name))) for f in fields(section)}
    return out


def _config_text(data: dict[str, dict[str, object]], changed: frozenset[str], target: Path) -> str:
    """The file's new text. A new file gets every key. Into an existing one only the values given since loading
    go (`changed`), so its comments, order and layout stay, and so do values written as the user wrote them
    (a relative path, an edit made while the app ran). A file that no longer parses is left alone."""
    # Imported here: 3 MB that an export, which never saves settings, does not need.
    import tomlkit
    import tomlkit.exceptions

    try:
        # _save_target has resolved any link already; a link planted since then is not followed.
        existing = _read_regular(target, follow=False).decode("utf-8").removeprefix("\ufeff")
    except (FileNotFoundError, NotADirectoryError):  # none yet (or no place for one: writing it says so)
        return "# tobs-tui settings; config.example.toml documents every key.\n\n" + tomli_w.dumps(data)
    except _NotRegular as e:
        raise ConfigError(f"Config file {target} is {e} now, not a regular file; put a TOML file there.") from None
    except OSError as e:
        # Writing the whole file over one that cannot be read would drop the user's comments and keys.
        reason = e.strerror or type(e).__name__
        raise ConfigError(f"Cannot read config file {target} ({reason}); make it readable, then save again.") from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"Config file {target} is not UTF-8 text any more; save it as UTF-8, then save again."
        ) from None
    try:
        doc = tomlkit.parse(existing)
    except tomlkit.exceptions.TOMLKitError as e:
        raise ConfigError(
            f"Config file {target} is not valid TOML any more ({e}); fix that line, then save again."
        ) from None
    except (RecursionError, ValueError) as e:
        fault = _parse_fault(e)
        if fault is None:
            raise
        raise ConfigError(f"Config file {target} {fault} any more; fix the file, then save again.") from None
    for name in sorted({k.split(".", 1)[0] for k in changed}):
        table = doc.get(name)
        if table is None:
            doc[name] = table = tomlkit.table()
        elif not isinstance(table, dict):
            raise ConfigError(
                f"In config file {target}, {name} is no longer a [{name}] table; fix it, then save again."
            )
        for key, value in data[name].items():
            if f"{name}.{key}" in changed and (key not in table or _plain(table[key]) != value):
                table[key] = value
    return tomlkit.dumps(doc)


def _plain(item: object) -> object:
    unwrap = getattr(item, "unwrap", None)
    return unwrap() if unwrap is not None else item


def _save_target(target: Path) -> Path:
    """The file a save replaces: `target` itself or, for a symbolic link (a config kept in a dotfiles repository),
    the file it points at, so the link stays a link. Raises one sentence for what a save must not replace."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target  # a new file
    except OSError:
        return target  # (no place for one, or no permission: writing it says so)
    real = target
    if stat.S_ISLNK(st.st_mode):
        real = Path(os.path.realpath(target))
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            raise ConfigError(
                f"Config file {target} is a symbolic link to {real}, which does not exist; create that file or remove "
                "the link, then save again."
            ) from None
        except OSError as e:
            reason = e.strerror or type(e).__name__
            raise ConfigError(
                f"Cannot follow config file link {target} ({reason}); fix the link, then save again."
            ) from None
        if stat.S_ISLNK(st.st_mode):  # realpath stops at a loop
            raise ConfigError(
                f"Config file {target} is a symbolic link that never reaches a file; fix the link, then save again."
            )
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            f"Config file {target} is {file_kind(st.st_mode)}, not a regular file; put a TOML file there (or point "
            "TOBS_CONFIG at one), then save again."
        )
    if not st.st_mode & stat.S_IWUSR:
        # The user made it read-only on purpose (a config managed by hand or by a tool): keep it as it is.
        raise ConfigError(
            f"Config file {real} is read-only; make it writable (chmod u+w) to save settings there, or edit it by hand."
        )
    return real


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings atomically (temp file, fsync, rename) with mode 0600; returns the path written.

    The file may hold the api hash and phone number, so it is always private to the user. A symbolic link keeps
    pointing where it did: the file it points at is replaced, in its own folder.
    """
    target = Path(path).expanduser() if path is not None else (settings.source or default_config_path())
    real = _save_target(target)
    text = _config_text(to_toml_dict(settings), settings.changed, real)
    tmp_name: str | None = None
    try:
        real.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # In the file's own folder: a rename only replaces atomically within one file system.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        # mkstemp creates the file 0600, and os.replace keeps that mode on the target.
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, real)
        tmp_name = None
        if os.name == "posix":  # makes the rename itself durable; Windows cannot open a directory
            dir_fd = os.open(real.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ConfigError(f"Cannot write config file {real} ({reason}); check the directory's permissions.") from None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
    return target
