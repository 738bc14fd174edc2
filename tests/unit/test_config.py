"""Settings: defaults, precedence, validation messages, atomic private save, the example file."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.support.child import REPO
from tobs_tui.config import (
    ConfigError,
    Settings,
    default_config_path,
    default_total_threads,
    load_settings,
    save_settings,
    settings_with,
    to_toml_dict,
)
from tobs_tui.network import parse_proxy


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- defaults and paths


def test_defaults_when_no_file_at_default_location(tmp_path):
    s = load_settings(env={})
    assert s == Settings()
    assert s.source is None
    assert s.workers.critical_share == 0.7
    assert s.workers.media_download_workers == 0
    assert s.export.output_dir == Path.home() / "TelegramVault"
    assert s.telegram.session_path.name == "tobs.session"
    # conftest points HOME and XDG at tmp_path: platformdirs must follow them
    assert tmp_path in s.telegram.session_path.parents


def test_default_config_path_follows_xdg_and_tobs_config(tmp_path):
    assert default_config_path({}) == tmp_path / "home" / ".config" / "tobs-tui" / "config.toml"
    assert default_config_path({"TOBS_CONFIG": "~/elsewhere.toml"}) == Path.home() / "elsewhere.toml"


def test_tobs_config_is_read_and_missing_tobs_config_means_defaults(tmp_path):
    cfg = write(tmp_path / "c.toml", "[ui]\nrefresh_hz = 3\n")
    assert load_settings(env={"TOBS_CONFIG": str(cfg)}).ui.refresh_hz == 3.0
    missing = load_settings(env={"TOBS_CONFIG": str(tmp_path / "nope.toml")})
    assert missing == Settings()


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_settings(tmp_path / "absent.toml", env={})
    assert str(tmp_path / "absent.toml") in str(e.value)
    assert "does not exist" in str(e.value)


# ---------------------------------------------------------------- precedence


def test_file_values_are_typed_and_paths_resolve_against_the_file(tmp_path):
    cfg = write(
        tmp_path / "c.toml",
        """
[telegram]
api_id = 12345
api_hash = "0123456789abcdef0123456789abcdef"
session_path = "sessions/me.session"
[export]
output_dir = "~/Vault"
media_kinds = ["photo", "voice", "photo"]
formats = ["json"]
timezone = "Europe/Berlin"
request_timeout_s = 12
[workers]
critical_share = 0.5
""",
    )
    s = load_settings(cfg, env={})
    assert s.source == cfg
    assert s.telegram.api_id == 12345
    assert s.telegram.session_path == tmp_path / "sessions" / "me.session"
    assert s.export.output_dir == Path.home() / "Vault"
    assert s.export.media_kinds == ("photo", "voice")
    assert s.export.formats == ("json",)
    assert s.export.timezone == "Europe/Berlin"
    assert s.export.request_timeout_s == 12.0 and isinstance(s.export.request_timeout_s, float)
    assert s.workers.critical_share == 0.5
    assert s.origin_of("workers", "critical_share") == "config file"
    assert s.origin_of("workers", "parts_per_file") == "default"


def test_precedence_defaults_file_env_flags(tmp_path):
    cfg = write(tmp_path / "c.toml", "[workers]\nmedia_download_workers = 3\nmax_threads = 10\n")
    from_file = load_settings(cfg, env={})
    assert (from_file.workers.media_download_workers, from_file.workers.max_threads) == (3, 10)

    from_env = load_settings(cfg, env={"MEDIA_WORKERS": "5", "MAX_THREADS": " 12 "})
    assert (from_env.workers.media_download_workers, from_env.workers.max_threads) == (5, 12)
    assert from_env.origin_of("workers", "media_download_workers") == "MEDIA_WORKERS"
    assert from_env.origin_of("workers", "max_threads") == "MAX_THREADS"

    from_flags = load_settings(
        cfg,
        env={"MEDIA_WORKERS": "5"},
        overrides={"workers": {"media_download_workers": 7, "max_threads": None}, "export": {"takeout": True}},
    )
    assert from_flags.workers.media_download_workers == 7
    assert from_flags.workers.max_threads == 10  # None means "flag not given"
    assert from_flags.export.takeout is True
    assert from_flags.origin_of("workers", "media_download_workers") == "command line"
    assert from_flags.origin_of("workers", "max_threads") == "config file"


def test_empty_env_values_count_as_unset(tmp_path):
    assert load_settings(env={"MEDIA_WORKERS": "", "MAX_THREADS": "  "}) == Settings()


def test_env_is_read_from_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("MEDIA_WORKERS", "4")
    assert load_settings().workers.media_download_workers == 4


# ---------------------------------------------------------------- validation messages


@pytest.mark.parametrize(
    ("toml", "key_text", "allowed_text"),
    [
        ("[workers]\ncritical_share = 1.5\n", "[workers] critical_share", "a number from 0.1 to 0.9"),
        ("[workers]\ncritical_share = \"high\"\n", "[workers] critical_share", "a number from 0.1 to 0.9"),
        (
            "[workers]\nmedia_download_workers = 65\n",
            "[workers] media_download_workers",
            "0 (automatic) or a whole number from 1 to 64",
        ),
        ("[workers]\nmax_threads = 1\n", "[workers] max_threads", "0 (automatic) or a whole number from 2 to 256"),
        ("[workers]\nparts_per_file = 2.5\n", "[workers] parts_per_file", "a whole number from 1 to 16"),
        ("[workers]\npostprocess = 1\n", "[workers] postprocess", "true or false"),
        ("[export]\nmax_concurrent_requests = 0\n", "[export] max_concurrent_requests", "from 1 to 64"),
        ("[export]\nrequest_timeout_s = 0.5\n", "[export] request_timeout_s", "a number from 1 to 600"),
        ("[export]\nmax_file_size_mb = -1\n", "[export] max_file_size_mb", "a whole number from 0"),
        ("[export]\ndownload_media = \"yes\"\n", "[export] download_media", "true or false"),
        ("[export]\nmedia_kinds = [\"photo\", \"gif\"]\n", "[export] media_kinds", '"animation"'),
        ("[export]\nmedia_kinds = \"photo\"\n", "[export] media_kinds", "a list of any of"),
        ("[export]\nformats = []\n", "[export] formats", 'one or more of "markdown", "json"'),
        ("[export]\ntimezone = \"Mars/Olympus\"\n", "[export] timezone", "IANA time zone"),
        ("[export]\noutput_dir = \"\"\n", "[export] output_dir", "a non-empty path"),
        ("[telegram]\napi_id = \"123\"\n", "[telegram] api_id", "a whole number from 0"),
        ("[telegram]\napi_id = true\n", "[telegram] api_id", "a whole number from 0"),
        ("[telegram]\nphone = 4915112345678\n", "[telegram] phone", "a quoted string"),
        ("[ui]\nrefresh_hz = 10\n", "[ui] refresh_hz", "a number from 1 to 4"),
        ("[ui]\nrefresh_hz = nan\n", "[ui] refresh_hz", "a number from 1 to 4"),
    ],
)
def test_invalid_value_message_names_file_key_and_allowed(tmp_path, toml, key_text, allowed_text):
    cfg = write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    msg = str(e.value)
    assert str(cfg) in msg and key_text in msg and allowed_text in msg
    assert "\n" not in msg and msg.endswith(".")


def test_unknown_key_lists_the_allowed_keys(tmp_path):
    cfg = write(tmp_path / "bad.toml", "[workers]\ncritcal_share = 0.5\n")
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert str(cfg) in msg and "'critcal_share'" in msg and "critical_share" in msg and "[workers]" in msg


def test_unknown_section_lists_the_sections(tmp_path):
    cfg = write(tmp_path / "bad.toml", "[worker]\nmax_threads = 4\n")
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert str(cfg) in msg and "[worker]" in msg and "[telegram], [export], [workers], [ui]" in msg


def test_top_level_key_and_section_that_is_not_a_table(tmp_path):
    cfg = write(tmp_path / "bad.toml", "max_threads = 4\n")
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert "top-level key 'max_threads'" in msg and "[workers]" in msg
    cfg = write(tmp_path / "bad2.toml", "workers = 4\n")
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert "[workers] must be a table" in msg


def test_invalid_toml_names_the_file_and_the_line(tmp_path):
    cfg = write(tmp_path / "bad.toml", "[workers]\nmax_threads = = 4\n")
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert str(cfg) in msg and "not valid TOML" in msg and "line 2" in msg


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[export]\nmedia_kinds = " + "[" * 5000 + "]" * 5000 + "\n", "is nested too deeply"),
        ("a = " + "[" * 100 + "]" * 100 + "\n", "is nested too deeply (more than 32 levels)"),
        ("[workers]\nmax_threads = " + "9" * 5000 + "\n", "holds a number too large to read"),
    ],
    ids=["deep-5000", "deep-100", "5000-digits"],
)
def test_a_file_nested_too_deeply_or_with_a_huge_number_is_one_sentence(tmp_path, text, said):
    cfg = write(tmp_path / "c.toml", text)
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert msg.startswith(f"Config file {cfg} ") and said in msg and msg.endswith("; fix the file.")
    assert "\n" not in msg and "sys.set_int_max_str_digits" not in msg


def test_a_byte_order_mark_at_the_start_is_ignored(tmp_path):
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes(b"\xef\xbb\xbf[workers]\nmax_threads = 6\n")
    s = load_settings(cfg, env={})
    assert s.workers.max_threads == 6
    save_settings(settings_with(s, "workers", max_threads=8))  # saving into it keeps working too
    assert load_settings(cfg, env={}).workers.max_threads == 8


@pytest.mark.parametrize(("section", "key"), [("export", "output_dir"), ("telegram", "session_path")])
def test_a_nul_in_any_path_setting_is_refused_naming_the_key(tmp_path, section, key):
    cfg = write(tmp_path / "c.toml", f'[{section}]\n{key} = "/tmp/v\\u0000x"\n')
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert (
        msg
        == f'Config file {cfg}: [{section}] {key} must be a path without a NUL character (\\u0000), got "/tmp/v\\u0000x".'
    )
    with pytest.raises(ConfigError, match="without a NUL character"):
        settings_with(Settings(), section, **{key: "a\0b"})


def test_a_path_whose_tilde_names_no_user_is_refused(tmp_path):
    cfg = write(tmp_path / "c.toml", '[export]\noutput_dir = "~no_such_user_tobs/v"\n')
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert "[export] output_dir must be a path whose ~ can be expanded" in msg and "\n" not in msg


def test_unreadable_and_non_utf8_files(tmp_path):
    d = tmp_path / "adir.toml"
    d.mkdir()
    msg = str(pytest.raises(ConfigError, load_settings, d, env={}).value)
    assert str(d) in msg and "Cannot read config file" in msg
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"[ui]\nrefresh_hz = 2 # \xff\xfe\n")
    msg = str(pytest.raises(ConfigError, load_settings, binary, env={}).value)
    assert str(binary) in msg and "UTF-8" in msg
    if os.geteuid() != 0:  # root reads anything
        locked = write(tmp_path / "locked.toml", "")
        locked.chmod(0)
        msg = str(pytest.raises(ConfigError, load_settings, locked, env={}).value)
        assert "Cannot read config file" in msg


@pytest.mark.parametrize(
    ("env", "name", "allowed"),
    [
        ({"MEDIA_WORKERS": "abc"}, "MEDIA_WORKERS", "0 (automatic) or a whole number from 1 to 64"),
        ({"MEDIA_WORKERS": "65"}, "MEDIA_WORKERS", "0 (automatic) or a whole number from 1 to 64"),
        ({"MEDIA_WORKERS": "4.5"}, "MEDIA_WORKERS", "0 (automatic) or a whole number from 1 to 64"),
        ({"MAX_THREADS": "1"}, "MAX_THREADS", "0 (automatic) or a whole number from 2 to 256"),
        ({"MAX_THREADS": "9" * 5000}, "MAX_THREADS", "0 (automatic) or a whole number from 2 to 256"),
    ],
)
def test_bad_env_values(env, name, allowed):
    msg = str(pytest.raises(ConfigError, load_settings, env=env).value)
    assert f"Environment variable {name}" in msg and allowed in msg and "unset it" in msg


def test_zero_means_automatic_in_the_file_the_environment_and_on_the_command_line(tmp_path):
    cfg = write(tmp_path / "c.toml", "[workers]\nmedia_download_workers = 0\nmax_threads = 0\n")
    for env, overrides in (
        ({}, None),
        ({"MEDIA_WORKERS": "0", "MAX_THREADS": "0"}, None),
        ({}, {"workers": {"media_download_workers": 0, "max_threads": 0}}),
    ):
        s = load_settings(cfg, env=env, overrides=overrides)
        assert (s.workers.media_download_workers, s.workers.max_threads) == (0, 0)
        assert s.total_threads() == default_total_threads()


def test_an_error_about_a_flag_names_the_flag():
    flags = {("workers", "media_download_workers"): "--media-workers"}
    msg = str(
        pytest.raises(
            ConfigError, load_settings, env={}, overrides={"workers": {"media_download_workers": 65}}, flags=flags
        ).value
    )
    assert msg == "--media-workers must be 0 (automatic) or a whole number from 1 to 64, got 65."


def test_bad_command_line_value_is_a_config_error():
    with pytest.raises(ConfigError, match=r"Command line: \[workers\] media_download_workers must be"):
        load_settings(env={}, overrides={"workers": {"media_download_workers": 100}})
    with pytest.raises(ConfigError, match="unknown key 'output' in \\[export\\]"):
        load_settings(env={}, overrides={"export": {"output": "x"}})


_toml_scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.text(max_size=10), max_size=4),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    section=st.sampled_from(["telegram", "export", "workers", "ui", "other"]),
    key=st.sampled_from(
        [
            "api_id",
            "phone",
            "output_dir",
            "media_kinds",
            "timezone",
            "formats",
            "max_threads",
            "critical_share",
            "refresh_hz",
            "takeout",
            "nope",
        ]
    ),
    value=_toml_scalars,
)
def test_fuzzed_files_load_or_fail_with_one_sentence(tmp_path, section, key, value):
    import tomli_w

    cfg = tmp_path / "fuzz.toml"
    cfg.write_text(tomli_w.dumps({section: {key: value}}), encoding="utf-8")
    try:
        load_settings(cfg, env={})
    except ConfigError as e:
        assert str(cfg) in str(e) and "\n" not in str(e)


@hsettings(max_examples=100, deadline=None)
@given(value=st.text(max_size=30))
def test_fuzzed_env_values_load_or_fail_with_one_sentence(value):
    try:
        s = load_settings(env={"MEDIA_WORKERS": value})
    except ConfigError as e:
        assert "MEDIA_WORKERS" in str(e)
    else:
        assert 0 <= s.workers.media_download_workers <= 64


# ---------------------------------------------------------------- settings_with


def test_settings_with_validates_and_clears_run_only_override():
    s = load_settings(env={"MEDIA_WORKERS": "5"})
    changed = settings_with(s, "workers", media_download_workers=2, critical_share=0.6)
    assert changed.workers.media_download_workers == 2 and changed.workers.critical_share == 0.6
    assert changed.origin_of("workers", "media_download_workers") == "config file"
    assert s.workers.media_download_workers == 5  # the original is untouched
    with pytest.raises(ConfigError, match=r"Setting: \[workers\] critical_share must be a number from 0.1 to 0.9"):
        settings_with(s, "workers", critical_share=0.95)
    with pytest.raises(ConfigError, match=r"unknown section \[pools\]"):
        settings_with(s, "pools", critical=3)
    assert settings_with(s, "export", output_dir="rel").export.output_dir == Path.cwd() / "rel"


# ---------------------------------------------------------------- save


def test_save_is_private_atomic_and_round_trips(tmp_path):
    s = settings_with(Settings(), "telegram", api_id=42, api_hash="deadbeef" * 4, phone="+491511234567")
    s = settings_with(s, "export", media_kinds=["photo"], timezone="local", output_dir=tmp_path / "v")
    target = tmp_path / "conf" / "sub" / "config.toml"
    assert save_settings(s, target) == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["config.toml"]  # no temp file left behind
    back = load_settings(target, env={})
    assert (back.telegram, back.export, back.workers, back.ui) == (s.telegram, s.export, s.workers, s.ui)
    assert back.source == target


def test_save_overwrites_existing_file_and_defaults_to_its_source(tmp_path):
    cfg = write(tmp_path / "c.toml", "[ui]\nrefresh_hz = 1\n")
    cfg.chmod(0o644)
    s = settings_with(load_settings(cfg, env={}), "ui", refresh_hz=4)
    assert save_settings(s) == cfg
    assert load_settings(cfg, env={}).ui.refresh_hz == 4.0
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600


def test_save_never_writes_env_or_flag_values_back(tmp_path):
    cfg = write(tmp_path / "c.toml", "[workers]\nmedia_download_workers = 3\n")
    s = load_settings(cfg, env={"MEDIA_WORKERS": "9", "MAX_THREADS": "16"}, overrides={"export": {"takeout": True}})
    save_settings(s)
    assert cfg.read_text() == "[workers]\nmedia_download_workers = 3\n"
    save_settings(s, tmp_path / "new.toml")
    data = tomllib.loads((tmp_path / "new.toml").read_text())
    assert data["workers"]["media_download_workers"] == 3
    assert data["workers"]["max_threads"] == 0
    assert data["export"]["takeout"] is False
    assert to_toml_dict(s, effective=True)["workers"]["media_download_workers"] == 9


def test_save_keeps_the_files_comments_and_layout(tmp_path):
    text = (
        "# my settings\n[ui]\nrefresh_hz = 1   # a slow terminal\n\n[export]\n"
        "formats = [\n  \"markdown\",  # notes\n  \"json\",\n]\n"
    )
    cfg = write(tmp_path / "c.toml", text)
    s = settings_with(load_settings(cfg, env={}), "workers", media_download_workers=5)
    save_settings(settings_with(s, "ui", refresh_hz=2))
    saved = cfg.read_text()
    assert saved.startswith("# my settings\n[ui]\nrefresh_hz = 2.0   # a slow terminal\n")
    assert "formats = [\n  \"markdown\",  # notes\n  \"json\",\n]\n" in saved, "unchanged values keep their layout"
    back = load_settings(cfg, env={})
    assert back.workers.media_download_workers == 5 and back.ui.refresh_hz == 2.0
    assert saved.endswith("\n[workers]\nmedia_download_workers = 5\n"), "only what was changed is written"


def test_save_writes_only_what_changed_since_loading(tmp_path):
    cfg = write(tmp_path / "c.toml", "[export]\noutput_dir = \"vault\"  # next to this file\n[ui]\nrefresh_hz = 1\n")
    s = load_settings(cfg, env={})
    write(cfg, cfg.read_text().replace("refresh_hz = 1", "refresh_hz = 3  # edited while the app ran"))
    s = settings_with(s, "workers", max_threads=6)
    s = settings_with(s, "ui", refresh_hz=1.0)  # the value it had: not a change
    save_settings(s)
    assert cfg.read_text() == (
        "[export]\noutput_dir = \"vault\"  # next to this file\n"
        "[ui]\nrefresh_hz = 3  # edited while the app ran\n\n[workers]\nmax_threads = 6\n"
    )


def test_save_leaves_a_config_whose_table_became_a_value_alone(tmp_path):
    cfg = write(tmp_path / "c.toml", "[ui]\nrefresh_hz = 1\n")
    s = settings_with(load_settings(cfg, env={}), "ui", refresh_hz=2)
    write(cfg, "ui = 1\n")
    with pytest.raises(ConfigError, match="no longer a \\[ui\\] table"):
        save_settings(s)
    assert cfg.read_text() == "ui = 1\n"


def test_save_leaves_a_config_broken_since_it_was_read_alone(tmp_path):
    cfg = write(tmp_path / "c.toml", "[ui]\nrefresh_hz = 1\n")
    s = load_settings(cfg, env={})
    write(cfg, "[ui\nrefresh_hz = 1\n")  # edited by hand while the app runs
    with pytest.raises(ConfigError, match="not valid TOML any more") as e:
        save_settings(settings_with(s, "ui", refresh_hz=2))
    assert str(e.value).count(". ") == 0
    assert cfg.read_text() == "[ui\nrefresh_hz = 1\n"


def test_save_into_unwritable_place_is_a_config_error(tmp_path):
    blocker = write(tmp_path / "file", "")
    with pytest.raises(ConfigError, match="Cannot write config file"):
        save_settings(Settings(), blocker / "config.toml")


def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    cfg = write(tmp_path / "d" / "c.toml", "[ui]\nrefresh_hz = 1\n")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="No space left on device"):
        save_settings(settings_with(Settings(), "ui", refresh_hz=3), cfg)
    assert cfg.read_text() == "[ui]\nrefresh_hz = 1\n"
    assert [p.name for p in cfg.parent.iterdir()] == ["c.toml"]


# ---------------------------------------------------------------- the example file


def test_example_file_parses_and_equals_defaults():
    example = REPO / "config.example.toml"
    s = load_settings(example, env={})
    assert (s.telegram, s.export, s.workers, s.ui, s.network) == (
        Settings().telegram,
        Settings().export,
        Settings().workers,
        Settings().ui,
        Settings().network,
    )


def test_example_file_documents_every_key():
    text = (REPO / "config.example.toml").read_text()
    for section, table in to_toml_dict(Settings()).items():
        assert f"[{section}]" in text
        for key in table:
            assert f"\n{key} = " in text or f"\n# {key} = " in text, key


# ---------------------------------------------------------------- the proxy


def test_proxy_precedence_file_opt_in_env_flag(tmp_path):
    cfg = write(tmp_path / "c.toml", '[network]\nproxy = "socks5://127.0.0.1:1080"\n')
    env = {"ALL_PROXY": "http://10.0.0.1:3128"}
    from_file = load_settings(cfg, env=env)
    assert from_file.network.proxy == "socks5://127.0.0.1:1080"  # the environment is not asked: no opt-in
    assert from_file.origin_of("network", "proxy") == "config file"

    opted = write(tmp_path / "o.toml", '[network]\nproxy = "socks5://127.0.0.1:1080"\nuse_env_proxy = true\n')
    from_env = load_settings(opted, env=env)
    assert from_env.network.proxy == "http://10.0.0.1:3128"
    assert from_env.origin_of("network", "proxy") == "ALL_PROXY"
    assert to_toml_dict(from_env)["network"]["proxy"] == "socks5://127.0.0.1:1080"  # never saved

    flagged = load_settings(opted, env=env, overrides={"network": {"proxy": "socks4://127.0.0.2:1081"}})
    assert flagged.network.parsed_proxy() == parse_proxy("socks4://127.0.0.2:1081")
    assert flagged.origin_of("network", "proxy") == "command line"
    direct = load_settings(opted, env=env, overrides={"network": {"proxy": ""}})
    assert direct.network.parsed_proxy() is None


def test_bad_proxy_is_one_sentence_without_the_password(tmp_path):
    cfg = write(tmp_path / "c.toml", '[network]\nproxy = "socks5://alice:hunter2-pw@127.0.0.1"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    msg = str(e.value)
    assert "[network] proxy" in msg and "the port must be a number" in msg and "alice:***@" in msg
    assert "hunter2-pw" not in msg and "\n" not in msg and msg.endswith(".")

    cfg = write(tmp_path / "m.toml", '[network]\nproxy = "tg://proxy?server=h&port=443&secret=dd0123"\n')
    with pytest.raises(ConfigError, match="must be 16 bytes") as e:
        load_settings(cfg, env={})
    assert "dd0123" not in str(e.value)


def test_bad_env_proxy_names_the_variable_and_the_way_out(tmp_path):
    cfg = write(tmp_path / "c.toml", "[network]\nuse_env_proxy = true\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={"HTTPS_PROXY": "https://bob:pw-secret@h:1"})
    msg = str(e.value)
    assert msg.startswith("Environment variable HTTPS_PROXY must be") and "use_env_proxy = false" in msg
    assert "pw-secret" not in msg


def test_secrets_include_the_proxy_password_and_secret():
    s = settings_with(Settings(), "network", proxy="socks5://a:pw-1234@h:1")
    assert "pw-1234" in s.secrets()
    mt = settings_with(Settings(), "network", proxy="tg://proxy?server=h&port=1&secret=dd" + "ab" * 16)
    assert "ab" * 16 in mt.secrets()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[workers]\nmax_threads = true\n", "got true."),
        ('[export]\nmedia_kinds = ["photo", "gif"]\n', 'got ["photo", "gif"].'),
        ("[workers]\nmax_threads = { n = 4 }\n", "got { n = 4 }."),
        ("[workers]\ncritical_share = nan\n", "got nan."),
    ],
)
def test_a_wrong_value_is_shown_as_toml_spells_it(tmp_path, text, shown):
    cfg = write(tmp_path / "c.toml", text)
    msg = str(pytest.raises(ConfigError, load_settings, cfg, env={}).value)
    assert msg.endswith(shown), msg
