"""The `tobs-tui` command: version, config path/show/check, doctor, error handling, hooks, logging."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from tobs_tui import __version__, cli
from tobs_tui.config import default_config_path, load_settings
from tobs_tui.cpus import usable_cpus
from tobs_tui.engine import render_workers_for
from tobs_tui.engine.runtime.disk import detect_disk, media_workers_for


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- version and config


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"tobs-tui {__version__}"


def test_config_path_default_env_and_flag(capsys, tmp_path, monkeypatch):
    assert run_cli(capsys, "config", "path")[1].strip() == str(default_config_path())
    monkeypatch.setenv("TOBS_CONFIG", str(tmp_path / "env.toml"))
    assert run_cli(capsys, "config", "path")[1].strip() == str(tmp_path / "env.toml")
    assert run_cli(capsys, "--config", str(tmp_path / "flag.toml"), "config", "path")[1].strip() == str(
        tmp_path / "flag.toml"
    )


def test_config_check_without_file_with_good_file_and_with_bad_file(capsys, tmp_path, monkeypatch):
    code, out, _ = run_cli(capsys, "config", "check")
    assert code == 0 and "No settings file" in out and "defaults apply" in out

    good = write(tmp_path / "good.toml", "[workers]\nmax_threads = 6\ncritical_share = 0.5\n")
    monkeypatch.setenv("MEDIA_WORKERS", "2")
    code, out, _ = run_cli(capsys, "--config", str(good), "config", "check")
    assert code == 0
    assert f"{good} is valid (2 settings set" in out
    assert "[workers] media_download_workers is overridden by MEDIA_WORKERS." in out

    bad = write(tmp_path / "bad.toml", "[workers]\ncritical_share = 2\n")
    code, out, err = run_cli(capsys, "--config", str(bad), "config", "check")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert str(bad) in err and "critical_share" in err and "from 0.1 to 0.9" in err


def test_config_check_reports_every_fault_at_once(capsys, tmp_path, monkeypatch):
    bad = write(
        tmp_path / "bad.toml",
        '[workers]\ncritical_share = 2\ncritcal_share = 0.5\n[export]\ntimezone = "Mars/Olympus"\n[pools]\nx = 1\n',
    )
    monkeypatch.setenv("MAX_THREADS", "lots")
    code, out, err = run_cli(capsys, "--config", str(bad), "--media-workers", "99", "config", "check")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 6 and all(line.startswith("tobs-tui: ") for line in lines), err
    for part in (
        "critical_share must be",
        "unknown key 'critcal_share'",
        "timezone must be",
        "unknown section [pools]",
    ):
        assert sum(part in line for line in lines) == 1, part
    assert sum("MAX_THREADS" in line for line in lines) == 1
    assert sum("--media-workers must be" in line and "got 99" in line for line in lines) == 1


def test_config_check_missing_explicit_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--config", str(tmp_path / "none.toml"), "config", "check")
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_config_show_marks_origins_and_hides_secrets(capsys, tmp_path, monkeypatch):
    secret = "0123456789abcdef0123456789abcdef"
    cfg = write(
        tmp_path / "c.toml",
        f'[telegram]\napi_hash = "{secret}"\nphone = "+4915100000000"\n[export]\nformats = ["json"]\n',
    )
    monkeypatch.setenv("MAX_THREADS", "12")
    code, out, _ = run_cli(capsys, "--config", str(cfg), "--media-workers", "3", "config", "show")
    assert code == 0
    assert secret not in out and "+4915100000000" not in out
    assert "# api_hash = <set, hidden>  # config file" in out
    assert 'formats = ["json"]  # config file' in out
    assert "max_threads = 12  # MAX_THREADS" in out
    assert "media_download_workers = 3  # command line" in out
    assert "critical_share = 0.7\n" in out  # defaults carry no mark
    assert f"from {cfg}" in out


def test_bad_env_value_is_one_line_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("MAX_THREADS", "1")
    code, out, err = run_cli(capsys, "config", "show")
    assert code == 2 and out == ""
    assert (
        err == "tobs-tui: Environment variable MAX_THREADS must be 0 (automatic) or a whole number from 2 to 256, "
        'got "1"; fix it or unset it.\n'
    )


def test_zero_workers_is_automatic_in_the_environment_and_on_the_command_line(capsys, monkeypatch):
    monkeypatch.setenv("MEDIA_WORKERS", "0")
    code, out, err = run_cli(capsys, "doctor")
    assert code == 0, err
    assert re.search(r"^media workers  \d+ \(auto from the disk type", out, re.M)
    monkeypatch.delenv("MEDIA_WORKERS")
    code, out, err = run_cli(capsys, "--media-workers", "0", "--max-threads", "0", "doctor")
    assert code == 0, err
    assert re.search(r"^media workers  \d+ \(auto from the disk type", out, re.M)
    assert re.search(r"^threads        \d+ \(auto:", out, re.M)


def test_bad_flag_values(capsys):
    code, _, err = run_cli(capsys, "--media-workers", "100", "config", "show")
    assert code == 2
    assert err == "tobs-tui: --media-workers must be 0 (automatic) or a whole number from 1 to 64, got 100.\n"
    code, _, err = run_cli(capsys, "--max-threads", "1", "config", "show")
    assert code == 2 and err.startswith("tobs-tui: --max-threads must be 0 (automatic) or")
    code, _, err = run_cli(capsys, "--media-workers", "many", "config", "show")
    assert code == 2 and "expected a whole number, got 'many'" in err


@pytest.mark.parametrize(("since", "said"), [("2026-13-01", "is not a date"), ("2999-01-01", "is in the future")])
def test_a_start_date_that_cannot_be_is_a_usage_error(capsys, tmp_path, since, said):
    code, _, err = run_cli(capsys, "export", "--all", "--emulator", "--since", since, "--out", str(tmp_path / "v"))
    assert code == 2 and said in err.strip().splitlines()[-1], err
    assert not (tmp_path / "v").exists()


def test_demo_flags_are_checked(capsys):
    code, _, err = run_cli(capsys, "--profile", "hostile")
    assert code == 2 and "add --demo" in err
    code, _, err = run_cli(capsys, "--demo", "config", "path")
    assert code == 2 and "use them without a command" in err


def test_unknown_command_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "frobnicate")
    assert code == 2 and "invalid choice: 'frobnicate'" in err


# ---------------------------------------------------------------- doctor


def test_doctor_reports_what_the_engine_would_use(capsys):
    code, out, _ = run_cli(capsys, "doctor")
    assert code == 0
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in out.splitlines())
    text = out
    settings = load_settings()
    assert f"{default_config_path()} (not found: defaults apply)" in text
    assert f"{Path.home() / 'TelegramVault'} (will be created)" in text
    disk = detect_disk(Path.home() / "TelegramVault")
    assert rows["disk"] == f"{disk.kind} ({disk.reason})"
    assert rows["media workers"] == f"{media_workers_for(disk.kind)} (auto from the disk type: {disk.kind})"
    critical, standard = settings.pool_sizes()
    assert f"critical {critical}, standard {standard} (critical share 0.7)" in text
    cpus = usable_cpus()
    assert f"threads        {settings.total_threads()} (auto: {cpus} CPU" in text
    assert rows["cpus"].startswith(f"{cpus} this process may use")
    renderers = render_workers_for(cpus)
    assert rows["rendering"].startswith(
        f"{renderers} worker processes" if renderers else "`tobs-tui export` in its own process"
    )
    assert metadata.version("telethon") in rows["telethon"]
    assert metadata.version("textual") in rows["textual"]


def test_doctor_says_an_export_dir_behind_a_file_cannot_be_created(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    code, out, _ = run_cli(capsys, "--output-dir", str(tmp_path / "afile" / "sub"), "doctor")
    assert code == 0
    assert f"(cannot be created: {tmp_path / 'afile'} is a file, not a folder; exports will fail)" in out


@pytest.mark.parametrize(
    ("argv", "env", "toml", "expected"),
    [
        (["--media-workers", "5"], {}, "", "media workers  5 (command line; auto would be "),
        ([], {"MEDIA_WORKERS": "4"}, "", "media workers  4 (MEDIA_WORKERS; auto would be "),
        ([], {}, "[workers]\nmedia_download_workers = 2\n", "media workers  2 (config file; auto would be "),
        ([], {"MAX_THREADS": "10"}, "", "threads        10 (MAX_THREADS)"),
        ([], {}, "[workers]\nmax_threads = 10\ncritical_share = 0.5\n", "pools          critical 5, standard 5"),
    ],
)
def test_doctor_says_where_numbers_come_from(capsys, tmp_path, monkeypatch, argv, env, toml, expected):
    cfg = write(tmp_path / "c.toml", toml)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, _ = run_cli(capsys, "--config", str(cfg), *argv, "doctor")
    assert code == 0
    assert expected in out


def test_doctor_on_an_export_dir_that_is_a_file(capsys, tmp_path):
    target = write(tmp_path / "vault", "")
    code, out, _ = run_cli(capsys, "--output-dir", str(target), "doctor")
    assert code == 0 and "exists but is not a directory" in out


# ---------------------------------------------------------------- in a real process


def _python(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def test_module_entry_point_version():
    proc = _python("-m", "tobs_tui", "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"tobs-tui {__version__}"


def test_module_entry_point_bad_config_is_one_line_without_traceback(tmp_path):
    bad = write(tmp_path / "bad.toml", "[ui]\nrefresh_hz = \n")
    proc = _python("-m", "tobs_tui", "--config", str(bad), "config", "check")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and str(bad) in proc.stderr and "not valid TOML" in proc.stderr


def test_config_and_doctor_never_import_textual_or_hook_modules():
    code = (
        "import sys; from tobs_tui.cli import main; main(['doctor']); main(['config', 'show']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual' "
        "or m in ('tobs_tui.headless', 'tobs_tui.emulator.cli', 'tobs_tui.ui.launch')))"
    )
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- hooks


@pytest.fixture
def fake_commands(tmp_path, monkeypatch):
    """A package of command modules on disk, registered as hooks, so the real lazy import path runs."""
    pkg = tmp_path / "src" / "fakecmds"
    pkg.mkdir(parents=True)
    write(pkg / "__init__.py", "")
    write(
        pkg / "headless.py",
        textwrap.dedent("""
        import logging
        CALLS = []
        def add_export_arguments(p):
            CALLS.append("add")
            p.add_argument("--chat")
        def run_export(args, settings):
            CALLS.append(("run", args.chat, settings.workers.media_download_workers))
            log = logging.getLogger("fakecmds")
            log.info("logging in with hash %s for %s", settings.telegram.api_hash, settings.telegram.phone)
            log.warning("plain warning")
            if args.chat == "interrupt":
                raise KeyboardInterrupt
            return 3
    """),
    )
    write(pkg / "broken.py", "import does_not_exist_anywhere\n")
    write(
        pkg / "launch.py",
        textwrap.dedent("""
        CALLS = []
        def run_app(args, settings):
            CALLS.append((args.demo, args.profile, args.world, settings.export.output_dir))
            return 0
    """),
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(cli, "SOURCE_ROOT", tmp_path / "src")
    monkeypatch.setattr(
        cli,
        "HOOKS",
        (
            cli.Hook("export", "fakecmds.headless", "add_export_arguments", "run_export", "export"),
            cli.Hook("broken", "fakecmds.broken", "add", "run", "broken"),
            cli.Hook("missing", "fakecmds.missing", "add", "run", "not written yet"),
        ),
    )
    monkeypatch.setattr(cli, "TUI_MODULE", "fakecmds.launch")
    yield pkg
    for name in [m for m in sys.modules if m.startswith("fakecmds")]:
        del sys.modules[name]


def test_hook_runs_with_settings_and_is_imported_only_when_chosen(capsys, fake_commands, monkeypatch):
    assert run_cli(capsys, "config", "path")[0] == 0
    assert "fakecmds.headless" not in sys.modules
    monkeypatch.setenv("MEDIA_WORKERS", "6")
    code, _, _ = run_cli(capsys, "export", "--chat", "@someone")
    assert code == 3
    assert sys.modules["fakecmds.headless"].CALLS == ["add", ("run", "@someone", 6)]


def test_missing_hook_module_is_not_registered_and_broken_one_is_one_line(capsys, fake_commands):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "export" in out and "broken" in out and "missing" not in out
    code, _, err = run_cli(capsys, "missing")
    assert code == 2 and "invalid choice: 'missing'" in err
    code, _, err = run_cli(capsys, "broken")
    assert code == 1 and err.count("\n") == 1
    assert "`tobs-tui broken` cannot start" in err and "does_not_exist_anywhere" in err


def test_ctrl_c_exits_130_with_one_line(capsys, fake_commands):
    # Ctrl-C before the export took charge of it (while its command loads or connects) says the same line.
    code, out, err = run_cli(capsys, "export", "--chat", "interrupt")
    assert code == 130 and out == "" and err.endswith("\nInterrupted; the next run continues where it stopped.\n")
    assert "Traceback" not in err


def test_log_file_gets_records_without_secrets(capsys, tmp_path, fake_commands):
    secret, phone = "fedcba9876543210fedcba9876543210", "+4915122223333"
    cfg = write(tmp_path / "c.toml", f'[telegram]\napi_hash = "{secret}"\nphone = "{phone}"\n')
    code, _, err = run_cli(capsys, "--config", str(cfg), "--log-level", "debug", "export", "--chat", "x")
    assert code == 3
    assert "plain warning" in err and secret not in err
    log = cli.log_file_path().read_text()
    assert "logging in with hash [redacted] for [redacted]" in log
    assert secret not in log and phone not in log
    assert oct(cli.log_file_path().parent.stat().st_mode & 0o777) == "0o700"
    root_handlers = logging.getLogger().handlers
    assert not [h for h in root_handlers if isinstance(h, logging.handlers.RotatingFileHandler)]  # torn down


def test_each_process_logs_to_its_own_file_with_its_pid_on_every_line(capsys, fake_commands):
    code, _, _ = run_cli(capsys, "--log-level", "debug", "export", "--chat", "x")
    assert code == 3
    ours = cli.log_file_path()
    assert ours.name.endswith(f"-{os.getpid()}.log")
    lines = ours.read_text().splitlines()
    assert lines and all(f" {os.getpid()} " in line for line in lines)
    # Another tobs-tui process at the same time writes elsewhere.
    child = _python(
        "-c",
        "import logging; from tobs_tui import cli; hs = cli.setup_logging('INFO'); "
        "logging.getLogger('other').info('from the other run'); cli.teardown_logging(hs); print(cli.log_file_path())",
    )
    theirs = Path(child.stdout.strip())
    assert theirs != ours and theirs.parent == ours.parent
    assert "from the other run" in theirs.read_text() and "from the other run" not in ours.read_text()


def test_old_run_logs_are_pruned_and_each_run_log_rotates(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    dead = 2**22 + 1  # above any pid this machine hands out (pid_max is at most 2**22)
    names = [f"tobs-tui-202601{day:02d}-120000-{dead}.log" for day in range(1, 15)]
    for name in names:
        (logs / name).write_text("old run\n")
    (logs / (names[0] + ".1")).write_text("its rotated copy\n")
    alive = logs / f"tobs-tui-20250101-000000-{os.getpid()}.log"  # oldest of all, but its run still goes on
    alive.write_text("running\n")
    (logs / "notes.txt").write_text("not ours\n")
    cli.prune_run_logs(logs, keep=10)
    left = sorted(p.name for p in logs.iterdir())
    assert left == sorted([*names[-10:], alive.name, "notes.txt"])
    handlers = cli.setup_logging("INFO", stderr=False)
    try:
        rotating = [h for h in handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
        assert rotating and rotating[0].maxBytes == cli.LOG_FILE_BYTES and rotating[0].backupCount >= 1
    finally:
        cli.teardown_logging(handlers)


def test_no_command_starts_the_dashboard_with_demo_flags(capsys, tmp_path, fake_commands):
    world = write(tmp_path / "world.json", "{}")
    code, _, _ = run_cli(capsys, "--demo", "--world", str(world), "--output-dir", str(tmp_path / "v"))
    assert code == 0
    code, _, _ = run_cli(capsys, "--demo", "--profile", "hostile")
    assert code == 0
    calls = sys.modules["fakecmds.launch"].CALLS
    assert calls == [(True, "realistic", world, tmp_path / "v"), (True, "hostile", None, Path.home() / "TelegramVault")]


def test_a_broken_demo_world_is_one_sentence_and_exit_2(capsys, tmp_path):
    """The real launcher: the world file is read before the dashboard starts, and its fault is one sentence."""
    world = write(tmp_path / "world.toml", 'seed = "x"\n')
    code, out, err = run_cli(capsys, "--demo", "--world", str(world), "--output-dir", str(tmp_path / "v"))
    assert code == 2 and out == ""
    assert err.startswith("tobs-tui: ") and "'seed' must be a whole number" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_no_dashboard_module_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setattr(cli, "TUI_MODULE", "tobs_tui.not_there")
    code, _, err = run_cli(capsys)
    assert code == 1 and "dashboard is not part of this install" in err


def test_export_command_never_imports_textual():
    code = (
        "import sys; from tobs_tui.cli import main; rc = main(['export', '--help']); "
        "print(rc, sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert "--json-progress" in proc.stdout  # the real headless arguments were registered
    assert proc.stdout.strip().splitlines()[-1] == "0 []"


# ---------------------------------------------------------------- emulator profiles and world files


def _one_usage_error(err: str) -> str:
    """argparse's usage lines, then the one error line; returns the error line."""
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--emulator", "bogus", "--all"],
        ["chats", "--emulator", "bogus"],
        ["--demo", "--profile", "bogus"],
    ],
)
def test_an_unknown_emulator_profile_is_a_usage_error(capsys, argv):
    code, _, err = run_cli(capsys, *argv)
    line = _one_usage_error(err)
    assert code == 2
    assert "invalid choice: 'bogus' (choose from " in line


@pytest.mark.parametrize("prefix", [["export", "--emulator", "lan", "--all"], ["chats", "--emulator"], ["--demo"]])
def test_a_missing_or_unreadable_world_file_is_a_usage_error(capsys, tmp_path, prefix):
    missing = tmp_path / "missing.toml"
    code, _, err = run_cli(capsys, *prefix, "--world", str(missing))
    assert code == 2
    assert _one_usage_error(err).endswith(
        f"argument --world: cannot read {str(missing)!r} (no such file); check the path"
    )
    code, _, err = run_cli(capsys, *prefix, "--world", str(tmp_path))
    assert code == 2 and "(is a directory)" in _one_usage_error(err)
    pipe = tmp_path / "world.pipe"
    os.mkfifo(pipe)  # opening it to read would wait for a writer for ever
    code, _, err = run_cli(capsys, *prefix, "--world", str(pipe))
    assert code == 2 and "(not a file but a pipe or a device)" in _one_usage_error(err)


def test_a_world_file_that_does_not_parse_is_one_sentence(capsys, tmp_path):
    broken = write(tmp_path / "world.json", "{not json")
    code, out, err = run_cli(capsys, "chats", "--emulator", "--world", str(broken))
    assert code == 2 and out == ""
    assert err.startswith(f"The world file {broken} is not valid JSON") and err.count("\n") == 1


def test_a_world_without_the_emulator_is_one_sentence(capsys, tmp_path):
    world = write(tmp_path / "world.json", "{}")
    code, _, err = run_cli(capsys, "export", "--all", "--world", str(world))
    assert code == 2 and err == "--world gives the emulator its world; add --emulator.\n"


# ---------------------------------------------------------------- the proxy


def test_config_show_and_check_never_show_the_proxy_password(capsys, tmp_path):
    cfg = write(tmp_path / "c.toml", '[network]\nproxy = "socks5://alice:hunter2-pw@127.0.0.1:1080"\n')
    code, out, _ = run_cli(capsys, "--config", str(cfg), "config", "show")
    assert code == 0 and "hunter2-pw" not in out
    assert '# proxy = "socks5://alice:***@127.0.0.1:1080" (password or secret hidden)  # config file' in out
    code, out, _ = run_cli(capsys, "--config", str(cfg), "--proxy", "none", "config", "check")
    assert code == 0 and "[network] proxy is overridden by command line." in out

    bad = write(tmp_path / "bad.toml", '[network]\nproxy = "socks5://alice:hunter2-pw@127.0.0.1"\n')
    code, out, err = run_cli(capsys, "--config", str(bad), "config", "check")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "the port must be a number" in err and "hunter2-pw" not in err


@pytest.mark.parametrize(
    ("argv", "env", "toml", "expected"),
    [
        ([], {}, "", "proxy          none: a direct connection\n"),
        (
            [],
            {"ALL_PROXY": "socks5://10.1.1.1:1080"},
            "",
            "proxy          none: a direct connection (ALL_PROXY is set but not used: set [network] "
            "use_env_proxy = true to use it)",
        ),
        (
            [],
            {"ALL_PROXY": "socks5://10.1.1.1:1080"},
            "[network]\nuse_env_proxy = true\n",
            "proxy          SOCKS5 proxy 10.1.1.1:1080 (ALL_PROXY)",
        ),
        (
            ["--proxy", "socks5://bob:pw-x1@127.0.0.1:1080"],
            {},
            "",
            "proxy          SOCKS5 proxy 127.0.0.1:1080 (user bob, password hidden) (command line)",
        ),
        (
            [],
            {},
            '[network]\nproxy = "tg://proxy?server=127.0.0.1&port=443&secret=dd' + "ab" * 16 + '"\n',
            "proxy          MTProxy 127.0.0.1:443 (random padding, secret hidden) (config file)",
        ),
    ],
)
def test_doctor_names_the_proxy_and_where_it_came_from(capsys, tmp_path, monkeypatch, argv, env, toml, expected):
    cfg = write(tmp_path / "c.toml", toml)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, _ = run_cli(capsys, "--config", str(cfg), *argv, "doctor")
    assert code == 0
    assert expected in out
    assert "pw-x1" not in out and "ab" * 16 not in out


def test_proxy_flag_goes_before_or_after_the_command():
    assert cli.parse_args(["--proxy", "socks5://h:1", "export", "--all"]).proxy == "socks5://h:1"
    assert cli.parse_args(["export", "--all", "--proxy", "socks5://h:2"]).proxy == "socks5://h:2"
    assert cli.parse_args(["chats", "--proxy", "none"]).proxy == "none"
    assert cli.parse_args(["chats"]).proxy is None


# ---------------------------------------------------------------- where the output goes


def test_a_path_too_long_is_one_sentence(capsys, tmp_path):
    long = str(tmp_path / ("a" * 300))
    for argv in (["export", "--all", "--emulator", "--out", long], ["verify", "--out", long]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.startswith("tobs-tui: A path is too long") and err.count("\n") == 1, err


def _shell(command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path), "TOBS_CONFIG": str(tmp_path / "none.toml")}
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=120)


def test_output_to_a_closed_stream_a_full_disk_or_a_reader_that_stops(tmp_path):
    world = tmp_path / "many.json"
    world.write_text('{"chats": [{"kind": "supergroup", "messages": 5, "repeat": 3000, "span_days": 1}]}')
    py = f"{sys.executable} -m tobs_tui"
    listing = _shell(f"{py} chats --emulator --world {world} | head -1; exit ${{PIPESTATUS[0]}}", tmp_path)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr and listing.stderr == "", listing.stderr
    assert listing.stdout.split() == ["ID", "KIND", "MESSAGES", "EXPORTED", "TITLE"]
    full = _shell(f"{py} config show > /dev/full", tmp_path)
    assert full.returncode == 1 and full.stderr.count("\n") == 1 and "the disk it goes to is full" in full.stderr
    closed = _shell(f"{py} export --emulator lan --chat Bob --no-media --out {tmp_path / 'v'} >&-", tmp_path)
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
    assert (tmp_path / "v" / "result.json").is_file()


def test_a_session_path_that_is_no_session_is_one_sentence(capsys, tmp_path):
    garbage = tmp_path / "bad.session"
    garbage.write_text("not a database")
    cases = [(garbage, "is not a Telegram session"), (tmp_path, f"No Telegram session at {tmp_path}.session")]
    for path, said in cases:
        config = write(
            tmp_path / "c.toml", f'[telegram]\nsession_path = "{path}"\napi_id = 1\napi_hash = "{"0" * 32}"\n'
        )
        code, _, err = run_cli(capsys, "--config", str(config), "chats")
        assert code == 2 and said in err and err.count("\n") == 1, err
    assert not (tmp_path.parent / f"{tmp_path.name}.session").exists(), "no session was made beside the folder"


def test_a_ctrl_c_while_the_cli_loads_is_exit_130_without_a_traceback():
    """The entry point imports the CLI inside its own handler: a Ctrl-C in the first tenth of a second (while the
    CLI's modules load) ends the run as one later does. Here the interrupt arrives during that import."""
    code = textwrap.dedent(
        """
        import builtins, sys
        real = builtins.__import__
        def interrupted(name, *args, **kwargs):
            if name == "tobs_tui.cli":
                raise KeyboardInterrupt
            return real(name, *args, **kwargs)
        builtins.__import__ = interrupted
        from tobs_tui.entry import main
        sys.exit(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and "Traceback" not in done.stderr, done.stderr
    assert [e.value for e in metadata.entry_points(group="console_scripts", name="tobs-tui")] == ["tobs_tui.entry:main"]


def test_a_ctrl_c_while_python_closes_after_the_command_is_ignored():
    """Found by the crash harness: a Ctrl-C landing after the export's summary, while Python joined the render
    workers' threads at exit, printed a traceback under the summary. The command has finished then."""
    code = textwrap.dedent(
        """
        import atexit, os, signal, sys, time
        import tobs_tui.cli
        tobs_tui.cli.main = lambda: 0
        from tobs_tui.entry import main
        def late():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)
        atexit.register(late)
        sys.exit(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
