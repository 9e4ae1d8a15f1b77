"""Where webhooks may send (the SSRF rules): https only unless allowed, no credentials in URLs, allowed URL
prefixes on whole parts, no loopback, link-local, private or reserved address (literal, or a name resolving to
one) unless inside an allowed network; and a delivery refused by the rules, or answered by a redirect, reaches
nothing further: checked against a real receiver on 127.0.0.1."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from events.receivers import Receiver
from modelreg.errors import InvalidInput
from modelreg.events import destinations, signing
from modelreg.events.delivery import send
from modelreg.settings import EventsSettings

DEFAULTS = EventsSettings()
LOOPBACK_OK = EventsSettings(allowed_networks=["127.0.0.0/8", "::1/128"], allow_http=True)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://hooks.example.com/ci", "scheme must be https"),
        ("ftp://hooks.example.com/ci", "scheme must be https"),
        ("https://user:pw@hooks.example.com/ci", "credentials"),
        ("https://token@hooks.example.com/ci", "credentials"),
        ("https:///ci", "no host"),
        ("https://127.0.0.1/ci", "not a public address"),
        ("https://[::1]/ci", "not a public address"),
        ("https://[::ffff:127.0.0.1]/ci", "not a public address"),  # IPv4-mapped: the IPv4 address it carries
        ("https://169.254.169.254/latest/meta-data", "not a public address"),  # cloud metadata, link-local
        ("https://10.1.2.3/ci", "not a public address"),
        ("https://192.168.0.10/ci", "not a public address"),
        ("https://100.64.0.1/ci", "not a public address"),  # carrier-grade NAT
        ("https://0.0.0.0/ci", "not a public address"),
        ("https://224.0.0.1/ci", "not a public address"),
        ("https://hooks.example.com:notaport/ci", "not a valid URL"),
    ],
)
def test_check_url_names_the_rule_a_url_breaks(url: str, rule: str) -> None:
    with pytest.raises(InvalidInput, match=rule):
        destinations.check_url(url, DEFAULTS)


def test_check_url_accepts_public_https_and_leaves_names_to_delivery() -> None:
    destinations.check_url("https://hooks.example.com/ci?x=1", DEFAULTS)
    destinations.check_url("https://8.8.8.8/ci", DEFAULTS)
    destinations.check_url("https://localhost/ci", DEFAULTS)  # a name: resolved (and refused) at delivery


def test_allowed_networks_and_http_open_what_an_admin_allows() -> None:
    settings = EventsSettings(allowed_networks=["10.0.0.0/8"], allow_http=True)
    destinations.check_url("http://10.1.2.3:8080/ci", settings)
    with pytest.raises(InvalidInput, match="not a public address"):
        destinations.check_url("http://192.168.0.10/ci", settings)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/ci", True),
        ("https://hooks.example.com/ci/", True),
        ("https://hooks.example.com/ci/build?x=1", True),
        ("https://hooks.example.com:443/ci/build", True),  # the default port is the same port
        ("https://hooks.example.com/cicada", False),  # a prefix of a path segment is not the path
        ("https://hooks.example.com.evil.org/ci", False),
        ("https://hooks.example.com:8443/ci", False),
        ("https://other.example.com/ci", False),
        ("https://hooks.example.com/", False),
    ],
)
def test_allowed_urls_match_on_whole_parts(url: str, allowed: bool) -> None:
    settings = EventsSettings(allowed_urls=["https://hooks.example.com/ci", "https://all.example.com"])
    destinations.check_url("https://all.example.com/anything", settings)
    if allowed:
        destinations.check_url(url, settings)
    else:
        with pytest.raises(InvalidInput, match="allowed_urls"):
            destinations.check_url(url, settings)


def test_a_name_resolving_to_loopback_is_refused_unless_its_network_is_allowed() -> None:
    with pytest.raises(destinations.Refused, match=r"localhost resolves to .* not a public address"):
        destinations.resolve("https://localhost/ci", DEFAULTS)
    resolved = destinations.resolve("http://localhost:8080/ci?x=1", LOOPBACK_OK)
    assert resolved.address in ("127.0.0.1", "::1") and resolved.host == "localhost"
    assert resolved.host_header == "localhost:8080"
    assert resolved.connect_url.endswith(":8080/ci?x=1") and "localhost" not in resolved.connect_url


def test_a_name_that_does_not_resolve_is_an_attempt_to_retry() -> None:
    with pytest.raises(destinations.Unresolved):
        destinations.resolve("https://no-such-host.invalid/ci", DEFAULTS)


def test_deliveries_to_loopback_or_over_http_are_not_sent_unless_allowed(receiver: Receiver) -> None:
    secret = signing.new_secret()
    http_only = EventsSettings(allowed_networks=["127.0.0.0/8"])
    loopback_only = EventsSettings(allow_http=True)
    for settings, rule in ((http_only, "scheme must be https"), (loopback_only, "not a public address")):
        attempt = send(receiver.url, secret, "1", b"{}", settings)
        assert not attempt.ok and attempt.status_code is None
        assert attempt.error is not None and attempt.error.startswith("not sent") and rule in attempt.error
    named = receiver.url.replace("127.0.0.1", "localhost")
    refused = send(named, secret, "1", b"{}", loopback_only)
    assert not refused.ok and refused.error is not None and "localhost resolves to" in refused.error
    assert receiver.received().requests == []
    assert send(receiver.url, secret, "1", b"{}", LOOPBACK_OK).ok
    assert send(named, secret, "2", b"{}", LOOPBACK_OK).ok
    got = receiver.received().requests
    assert [r.msg_id for r in got] == ["1", "2"]
    assert got[1].headers["host"] == f"localhost:{receiver.port}"


def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    receiver.script(lambda _request, _attempt: 302)
    attempt = send(receiver.url + "?token=s3cr3t", signing.new_secret(), "7", b"{}", LOOPBACK_OK)
    assert not attempt.ok and attempt.status_code == 302
    assert attempt.error is not None and "redirect" in attempt.error and "s3cr3t" not in attempt.error
    assert [r.path for r in receiver.received().requests] == ["/hook?token=s3cr3t"]  # not /redirected


def test_errors_name_neither_the_url_nor_the_secret(receiver: Receiver) -> None:
    secret = signing.new_secret()
    receiver.script(lambda _request, _attempt: 500)
    answered = send(receiver.url + "/T000/s3cr3tpath", secret, "1", b"{}", LOOPBACK_OK)
    assert answered.status_code == 500 and answered.error == "the receiver answered 500: answer 500"
    closed_port = f"http://127.0.0.1:{receiver.port}".replace(str(receiver.port), "1")
    unreachable = send(closed_port + "/T000/s3cr3tpath?key=abc", secret, "1", b"{}", LOOPBACK_OK)
    assert not unreachable.ok and unreachable.error is not None
    assert unreachable.error.startswith("cannot reach the receiver")
    for text in ("s3cr3tpath", "abc", secret):
        assert text not in unreachable.error


def test_a_malformed_allowed_network_stops_the_settings_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"'10\.0\.0\.0/33' is not a network"):
        EventsSettings(allowed_networks=["127.0.0.0/8", "10.0.0.0/33"])
