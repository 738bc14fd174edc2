"""Proxy settings: every accepted form, every refusal as what is wrong, and no password or secret shown."""

from __future__ import annotations

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
        ("tg://proxy?server=h&port=443&secret=abc", "32 hexadecimal digits"),
        ("tg://proxy?server=h&port=443&secret=" + "zz" * 16, "32 hexadecimal digits"),
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


def test_env_proxy_order():
    assert env_proxy({}) is None
    assert env_proxy({"HTTPS_PROXY": "http://b:1", "ALL_PROXY": "socks5://a:1"}) == ("ALL_PROXY", "socks5://a:1")
    assert env_proxy({"HTTPS_PROXY": "http://b:1", "all_proxy": " "}) == ("HTTPS_PROXY", "http://b:1")
    assert env_proxy({"all_proxy": "socks5://l:1", "ALL_PROXY": "socks5://u:1"}) == ("all_proxy", "socks5://l:1")
