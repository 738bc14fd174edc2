"""Bad input at the edges: fuzzed config files and env values through the real command line, wrong login codes and
passwords, an export dir that is a file, and two exports into one vault at once. Each gets one clear sentence."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.crash_harness import WORLD_TOML, compare
from tests.support.child import REPO, child_env
from tests.support.settings import WAIT
from tobs_tui import cli
from tobs_tui.config import Settings, to_toml_dict
from tobs_tui.engine.telegram.login import LoginError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Every real key with a value of any TOML type, plus keys and sections that do not exist.
KEYS = [(section, key) for section, table in to_toml_dict(Settings()).items() for key in table]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_sentence(code: int, err: str) -> None:
    """Exit 2 and one sentence per fault, each on its own line."""
    if code == 0:
        return
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.split("\n")[:-1]  # not splitlines(): a value may hold U+0085 or U+2028, shown as they are
    assert lines and err.endswith("\n") and all(line.startswith("tobs-tui: ") for line in lines), err


@FUZZ
@given(
    entries=st.lists(
        st.tuples(st.sampled_from(KEYS + [("export", "nope"), ("nosuch", "key")]), scalars), min_size=1, max_size=4
    ),
    command=st.sampled_from([["config", "check"], ["config", "show"], ["doctor"]]),
)
def test_fuzzed_config_values_through_the_command_line(tmp_path, capsys, entries, command):
    data: dict = {}
    for (section, key), value in entries:
        if value is not None:
            data.setdefault(section, {})[key] = value
    cfg = tmp_path / "fuzz.toml"
    cfg.write_text(tomli_w.dumps(data), encoding="utf-8")
    code, _, err = run_cli(["--config", str(cfg), *command], capsys)
    assert_one_sentence(code, err)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_fuzzed_config_bytes_through_the_command_line(tmp_path, capsys, raw):
    cfg = tmp_path / "fuzz.toml"
    cfg.write_bytes(raw)
    code, _, err = run_cli(["--config", str(cfg), "doctor"], capsys)
    assert_one_sentence(code, err)


@FUZZ
@given(
    name=st.sampled_from(["MEDIA_WORKERS", "MAX_THREADS", "TOBS_CONFIG"]),
    value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
)
def test_fuzzed_env_values_through_the_command_line(capsys, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    code, _, err = run_cli(["doctor"], capsys)
    assert_one_sentence(code, err)


DEEP_JSON = '{"seed": ' + "[" * 5000 + "]" * 5000 + "}"
DEEP_TOML = "a = " + "[" * 5000 + "]" * 5000 + "\n"
BIG_NUMBER = "a = " + "9" * 5000 + "\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [(DEEP_TOML, "is nested too deeply to read; fix the file."), (BIG_NUMBER, "holds a number too large to read")],
)
@pytest.mark.parametrize("command", [["config", "check"], ["config", "show"], ["doctor"]])
def test_a_config_nested_too_deeply_or_with_a_huge_number_is_one_sentence(tmp_path, capsys, text, said, command):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text, encoding="utf-8")
    code, out, err = run_cli(["--config", str(cfg), *command], capsys)
    assert_one_sentence(code, err)
    assert code == 2 and not out and err.count("\n") == 1 and said in err, err


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("w.json", DEEP_JSON, "is nested too deeply to read; fix the file."),
        ("w.toml", DEEP_TOML.replace("a =", "seed ="), "is nested too deeply to read; fix the file."),
        ("w.json", '{"seed": ' + "9" * 5000 + "}", "holds a number too large to read (more than 4300 digits)"),
    ],
)
@pytest.mark.parametrize(
    "argv", [["chats", "--emulator"], ["emulator", "--session-out", "s.txt"]], ids=["chats", "emulator"]
)
def test_a_world_nested_too_deeply_or_with_a_huge_number_is_one_sentence(tmp_path, capsys, name, text, said, argv):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, out, err = run_cli([*argv, "--world", str(path)], capsys)
    assert code == 2 and not out and err.count("\n") == 1 and said in err and "Traceback" not in err, err
    assert "set_int_max_str_digits" not in err


@pytest.mark.parametrize("seed", ["-5", "99999999999999999999999", "18446744073709551616", "x"])
def test_an_emulator_seed_out_of_range_is_a_usage_error(tmp_path, capsys, seed):
    code, out, err = run_cli(["emulator", "--session-out", str(tmp_path / "s.txt"), "--seed", seed], capsys)
    assert code == 2 and not out and "Traceback" not in err and "world file" not in err, err
    assert f"argument --seed: must be a whole number between 0 and 2**64-1, got '{seed}'" in err, err
    assert not (tmp_path / "s.txt").exists()


def test_an_ee_mtproxy_secret_says_fake_tls_is_not_supported(tmp_path, capsys):
    secret = "ee" + "0f" * 16 + b"example.com".hex()
    code, _, err = run_cli(["emulator", "--session-out", str(tmp_path / "s.txt"), "--mtproxy-secret", secret], capsys)
    assert code == 2 and err.count("\n") == 1 and "starting with ee (fake-TLS) is not supported" in err, err
    assert "characters" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--all", "--emulator", "--out", ""],
        ["export", "--all", "--emulator", "--out", "  "],
        ["--output-dir", "", "export", "--all", "--emulator"],
        ["--output-dir", "", "config", "check"],
        ["verify", "--out", ""],
    ],
)
def test_an_empty_path_flag_is_a_usage_error_and_writes_nothing(tmp_path, capsys, monkeypatch, argv):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and not out and "Traceback" not in err, err
    assert "an empty path names no folder; give the folder's path (. for the current one)" in err, err
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("key", ["[export]\noutput_dir", "[telegram]\nsession_path"])
@pytest.mark.parametrize("command", [["config", "check"], ["doctor"], ["export", "--all", "--emulator"]])
def test_a_nul_in_a_path_setting_is_one_sentence_for_every_command(tmp_path, capsys, key, command):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'{key} = "{tmp_path}/v\\u0000x"\n', encoding="utf-8")
    code, out, err = run_cli(["--config", str(cfg), *command], capsys)
    assert_one_sentence(code, err)
    assert code == 2 and not out and err.count("\n") == 1 and "must be a path without a NUL character" in err, err
    assert key.split("\n")[1] in err and not (tmp_path / "v").exists()


def test_a_config_with_a_byte_order_mark_is_valid(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"\xef\xbb\xbf[workers]\nmax_threads = 6\n")
    code, out, err = run_cli(["--config", str(cfg), "config", "check"], capsys)
    assert code == 0 and "is valid (1 setting set" in out and not err, err


def test_wrong_login_code_and_password_are_one_sentence_each(make_runner, emulator):
    world = emulator.world
    runner = make_runner(authorized=False)
    assert runner.connect().result(WAIT) is False
    runner.send_code(world.twofa_phone).result(WAIT)
    wrong_code = "54321" if world.demo_code != "54321" else "11111"
    with pytest.raises(LoginError) as bad_code:
        runner.sign_in(wrong_code).result(WAIT)
    assert str(bad_code.value) == "That login code is wrong; check the code Telegram sent and try again."
    assert runner.sign_in(world.demo_code).result(WAIT) == "password_needed"
    with pytest.raises(LoginError) as bad_password:
        runner.check_password("not-" + world.twofa_password).result(WAIT)
    assert str(bad_password.value) == "That two-step verification password is wrong; try again."
    assert world.twofa_password not in str(bad_password.value)
    runner.check_password(world.twofa_password).result(WAIT)
    assert runner.connect().result(WAIT) is True


def test_an_unknown_phone_and_empty_inputs_are_one_sentence(make_runner, emulator):
    runner = make_runner(authorized=False)
    runner.connect().result(WAIT)
    for call, arg in ((runner.send_code, "+1999"), (runner.send_code, "  "), (runner.sign_in, "12")):
        with pytest.raises(LoginError) as e:
            call(arg).result(WAIT)
        assert str(e.value).endswith(".") and "\n" not in str(e.value)


def export_cmd(tmp_path, out) -> list[str]:
    world = tmp_path / "world.toml"
    world.write_text(WORLD_TOML, encoding="utf-8")
    return [
        sys.executable,
        "-m",
        "tobs_tui",
        "export",
        "--emulator",
        "lan",
        "--world",
        str(world),
        "--all",
        "--out",
        str(out),
    ]


def test_export_dir_that_is_a_file_is_one_sentence(tmp_path):
    out = tmp_path / "vault"
    out.write_text("not a folder")
    run = subprocess.run(
        export_cmd(tmp_path, out),
        env=child_env(tmp_path / "home"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "is a file; choose a folder" in run.stderr and "Traceback" not in run.stderr + run.stdout
    assert out.read_text() == "not a folder"


@pytest.mark.slow
def test_two_exports_into_one_vault_at_once(tmp_path):
    """The second is refused with one sentence while the first runs; the first ends exactly like a lone export."""
    env = child_env(tmp_path / "home")
    vault, alone = tmp_path / "vault", tmp_path / "alone"
    first = subprocess.Popen(
        export_cmd(tmp_path, vault), env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (vault / ".tobs" / "state.sqlite").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(
            export_cmd(tmp_path, vault), env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )
        first_out, _ = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, first_out
    assert second.returncode == 2, second.stdout + second.stderr
    assert "Another export is writing to" in second.stderr and "Traceback" not in second.stderr
    lone = subprocess.run(export_cmd(tmp_path, alone), env=env, cwd=REPO, capture_output=True, timeout=300)
    assert lone.returncode == 0
    assert compare(alone, vault) == []
