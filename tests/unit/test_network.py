"""Proxy settings: every accepted form, every refusal as what is wrong, and no password or secret shown."""

from __future__ import annotations

import base64

import pytest

from tobs_tui.network import Proxy, ProxyError, env_proxy, parse_proxy, redacted

SECRET = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  none ", None),
        ("socks5://127.0.0.1:1080", Proxy("socks5", "127.0.0.1", 1080)),
        ("SOCKS5H://proxy.example:9050", Proxy("socks5", "proxy.example", 9050)),
        ("socks5://al%40ice:p%3Ass@10.0.0.1:1080", Proxy("socks5", "10.0.0.1", 1080, "al@ice", "p:ss")),
        ("socks4://127.0.0.1:1080", Proxy("socks4", "127.0.0.1", 1080)),
        ("http://u:pw@[::1]:3128/", Proxy("http", "::1", 3128, "u", "pw")),
        (f"tg://proxy?server=mt.example&port=443&secret={SECRET}", Proxy("mtproxy", "mt.example", 443, secret=SECRET)),
        (
            f"https://t.me/proxy?server=1.2.3.4&port=8443&secret=dd{SECRET}",
            Proxy("mtproxy", "1.2.3.4", 8443, secret="dd" + SECRET),
        ),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_proxy(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1:1080", "does not start with socks5://"),
        ("ftp://h:21", "does not start with socks5://"),
        ("socks5://127.0.0.1", "the port must be"),
        ("socks5://127.0.0.1:0", "the port must be"),
        ("socks5://127.0.0.1:65536", "the port must be"),
        ("socks5://:1080", "the host is missing"),
        ("socks5://h:1080/path", "nothing after host:port"),
        ("http://[::1:3128", "not a well-formed URL"),
        ("tg://proxy?port=443&secret=" + SECRET, "no server="),
        ("tg://proxy?server=h&port=443&secret=abc", "must be 16 bytes"),
        ("tg://proxy?server=h&port=443&secret=" + "zz" * 16, "must be 16 bytes"),
        ("tg://proxy?server=h&port=443&secret=ee" + SECRET + "676f6f676c652e636f6d", "fake-TLS"),
    ],
)
def test_refusals_say_what_is_wrong(text, reason):
    with pytest.raises(ProxyError, match=reason):
        parse_proxy(text)


def test_labels_and_descriptions_never_show_the_password_or_secret():
    socks = parse_proxy("socks5://alice:hunter2-pw@127.0.0.1:1080")
    mt = parse_proxy(f"tg://proxy?server=h&port=443&secret=dd{SECRET}")
    assert socks is not None and mt is not None
    assert socks.label == "SOCKS5 proxy 127.0.0.1:1080"
    assert socks.describe() == "SOCKS5 proxy 127.0.0.1:1080 (user alice, password hidden)"
    assert mt.describe() == "MTProxy h:443 (random padding, secret hidden)" and mt.randomized_padding
    for proxy, hidden in ((socks, "hunter2-pw"), (mt, SECRET)):
        for shown in (proxy.label, proxy.describe(), repr(proxy), str(proxy)):
            assert hidden not in shown
        assert hidden in proxy.secrets()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("socks5://alice:hunter2@h:1080", "socks5://alice:***@h:1080"),
        ("socks5://alice:hunter2@h", "socks5://alice:***@h"),  # redacted though it does not parse
        ("http://h:3128", "http://h:3128"),
        (f"tg://proxy?server=h&secret={SECRET}&port=1", "tg://proxy?server=h&secret=***&port=1"),
    ],
)
def test_redacted(text, shown):
    assert redacted(text) == shown


KEY = bytes.fromhex(SECRET)
DD_KEY = "dd" + SECRET[2:]  # a plain 16-byte secret whose first byte is 0xdd (one in 256 of them)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Telegram's link forms, as its clients read them (TDLib's LinkManager).
        (f"tg:proxy?server=h&port=1&secret={SECRET}", ("mtproxy", "h", 1, "", "", SECRET)),
        (f"TG://PROXY?server=h&port=1&secret={SECRET}", ("mtproxy", "h", 1, "", "", SECRET)),
        (f"t.me/proxy?server=h&port=1&secret={SECRET}", ("mtproxy", "h", 1, "", "", SECRET)),
        (f"http://t.me/proxy?server=h&port=1&secret={SECRET}", ("mtproxy", "h", 1, "", "", SECRET)),
        (f"https://www.telegram.dog/proxy/?server=h&port=1&secret={SECRET}", ("mtproxy", "h", 1, "", "", SECRET)),
        (f"https://telegram.me:443/proxy?server=h&port=1&secret={SECRET}#x", ("mtproxy", "h", 1, "", "", SECRET)),
        ("tg://socks?server=s.example&port=1080&user=al&pass=p%40ss", ("socks5", "s.example", 1080, "al", "p@ss", "")),
        ("https://t.me/socks?server=s&port=9", ("socks5", "s", 9, "", "", "")),
        ("tg:socks?server=::1&port=9&user=u", ("socks5", "::1", 9, "u", "", "")),
        # Secrets (TDLib's ProxySecret): hex in either case, else base64url, else base64; 16 bytes is plain
        # whatever its first byte, 17 starting with 0xdd asks for random padding.
        (f"tg://proxy?server=h&port=1&secret={SECRET.upper()}", ("mtproxy", "h", 1, "", "", SECRET)),
        (f"tg://proxy?server=h&port=1&secret=DD{SECRET.upper()}", ("mtproxy", "h", 1, "", "", "dd" + SECRET)),
        (f"tg://proxy?server=h&port=1&secret={DD_KEY}", ("mtproxy", "h", 1, "", "", DD_KEY)),
        (f"tg://proxy?server=h&port=1&secret={b64url(KEY)}", ("mtproxy", "h", 1, "", "", SECRET)),
        (
            f"tg://proxy?server=h&port=1&secret={b64url(bytes([0xDD]) + KEY)}",
            ("mtproxy", "h", 1, "", "", "dd" + SECRET),
        ),
        (
            f"tg://proxy?server=h&port=1&secret={base64.b64encode(bytes([0xDD, 0xFB]) + KEY[2:]).decode()}",
            ("mtproxy", "h", 1, "", "", "ddfb" + SECRET[4:]),
        ),
        ("socks5://alice:p@ssw0rd@127.0.0.1:1080", ("socks5", "127.0.0.1", 1080, "alice", "p@ssw0rd", "")),
    ],
)
def test_telegram_links_and_secrets_read_as_telegram_reads_them(text, expected):
    proxy = parse_proxy(text)
    assert proxy is not None
    assert (proxy.kind, proxy.host, proxy.port, proxy.username, proxy.password, proxy.secret) == expected
    assert proxy.randomized_padding == (len(proxy.secret) == 34)


def test_a_plain_secret_starting_with_dd_or_ee_is_plain():
    for first in ("dd", "ee"):
        proxy = parse_proxy(f"tg://proxy?server=h&port=1&secret={first}{SECRET[2:]}")
        assert proxy is not None and not proxy.randomized_padding
        assert proxy.key == bytes.fromhex(first + SECRET[2:])
    padded = parse_proxy(f"tg://proxy?server=h&port=1&secret=dd{SECRET}")
    assert padded is not None and padded.randomized_padding and padded.key == KEY


@pytest.mark.parametrize(
    "secret",
    [
        "ee" + SECRET + "676f6f676c652e636f6d",  # hex
        b64url(bytes([0xEE]) + KEY + b"google.com"),  # base64url, as Telegram's apps write fake-TLS secrets
    ],
)
def test_a_fake_tls_secret_is_refused_with_the_reason(secret):
    with pytest.raises(ProxyError, match="fake-TLS MTProxy") as e:
        parse_proxy(f"tg://proxy?server=h&port=1&secret={secret}")
    assert secret not in str(e.value)


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("tg://socks?server=h&port=1&user=u&pass=hunter2", "hunter2"),
        ("https://t.me/socks?server=h&port=1&pass=hunter2&user=u", "hunter2"),
        ("socks5://alice:p@ssw0rd@127.0.0.1:1080", "ssw0rd"),
        ("socks5://alice:pa/ss@127.0.0.1:1080", "pa/ss"),
        ("http://bob:a?b#c@h:1", "a?b#c"),
        ("socks5://ad#min:hunter2pw@h:1080", "hunter2pw"),
        ("socks5://ad?min:hunter2pw@h:1080", "hunter2pw"),
        ("socks5://me@corp.com:hunter2pw@h:1080", "hunter2pw"),
        ("socks5://u:hunter2pw@[::1]:1080", "hunter2pw"),
    ],
)
def test_passwords_in_every_form_are_redacted(text, hidden):
    assert hidden not in redacted(text)
    try:
        proxy = parse_proxy(text)
    except ProxyError as e:
        assert hidden not in str(e)
    else:
        assert proxy is not None and hidden not in (proxy.label + proxy.describe() + repr(proxy))


def test_a_password_with_an_unencoded_slash_says_how_to_write_it():
    with pytest.raises(ProxyError, match="percent-encoded"):
        parse_proxy("socks5://alice:pa/ss@127.0.0.1:1080")


def test_the_secret_as_written_is_among_the_secrets_a_log_hides():
    written = b64url(bytes([0xDD]) + KEY)
    proxy = parse_proxy(f"tg://proxy?server=h&port=1&secret={written}")
    assert proxy is not None and written in proxy.secrets() and proxy.secret in proxy.secrets()


def test_env_proxy_order():
    assert env_proxy({}) is None
    assert env_proxy({"HTTPS_PROXY": "http://b:1", "ALL_PROXY": "socks5://a:1"}) == ("ALL_PROXY", "socks5://a:1")
    assert env_proxy({"HTTPS_PROXY": "http://b:1", "all_proxy": " "}) == ("HTTPS_PROXY", "http://b:1")
    assert env_proxy({"all_proxy": "socks5://l:1", "ALL_PROXY": "socks5://u:1"}) == ("all_proxy", "socks5://l:1")
