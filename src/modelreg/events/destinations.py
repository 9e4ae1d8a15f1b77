"""Where webhooks may send: the admin's ``events.allowed_urls`` and ``events.allowed_networks``, https unless
``events.allow_http``; loopback, link-local, private and other non-public addresses only inside an allowed network.
Checked when a webhook is saved (`check_url`) and again at every delivery on the addresses the name resolves to
then (`resolve`), and the connection goes to the address that was checked (no second lookup: DNS rebinding).

An allowed URL prefix matches on whole parts: the same scheme, host and port, and a path that is the prefix's or
below it (``https://hooks.example.com/ci`` allows ``https://hooks.example.com/ci/build`` but neither
``https://hooks.example.com.evil.org/`` nor ``https://hooks.example.com/cicada``)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

from modelreg.errors import InvalidInput
from modelreg.settings import EventsSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Destination:
    url: str  # as configured
    address: str  # the checked IP address to connect to
    host: str  # for the Host header and TLS (SNI and certificate name)

    @property
    def connect_url(self) -> str:
        """``url`` with its host replaced by ``address`` (the request goes there; Host and SNI say ``host``)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        return parts._replace(netloc=netloc).geturl()

    @property
    def host_header(self) -> str:
        parts = urlsplit(self.url)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if parts.port is None else f"{host}:{parts.port}"


class Refused(Exception):
    """A delivery the destination rules forbid (the message says which rule; recorded as the attempt's error)."""


class Unresolved(Exception):
    """The destination's name does not resolve (now): an attempt that failed, to be retried."""


def check_url(url: str, settings: EventsSettings) -> None:
    """Raise ``errors.InvalidInput`` naming the rule a webhook URL breaks (scheme, allowed prefixes, credentials in
    the URL, a literal address outside the allowed networks). Names are resolved at delivery, not here."""
    try:
        _checked(url, settings)
    except Refused as exc:
        raise InvalidInput(f"webhook URL refused: {exc}") from None


def resolve(url: str, settings: EventsSettings) -> Destination:
    """The address to send to; raises ``Refused`` when the URL or an address its name resolves to is not allowed,
    ``Unresolved`` when the name does not resolve."""
    parts = _checked(url, settings)
    host = parts.hostname or ""
    literal = _literal(host)
    if literal is not None:
        return Destination(url, str(literal), host)
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolved(f"the host name {host} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(_unwrap(ipaddress.ip_address(str(info[4][0]).partition("%")[0])) for info in infos))
    if not addresses:
        raise Unresolved(f"the host name {host} resolves to no address")
    for address in addresses:  # every one: which the connection would pick is not ours to know
        _check_address(address, settings, f"{host} resolves to")
    return Destination(url, str(addresses[0]), host)


def _checked(url: str, settings: EventsSettings) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        raise Refused(f"not a valid URL: {exc}") from None
    allowed_schemes = ("https", "http") if settings.allow_http else ("https",)
    if parts.scheme not in allowed_schemes:
        rule = "https or http" if settings.allow_http else "https (plain http needs events.allow_http)"
        raise Refused(f"the scheme must be {rule}")
    if "@" in parts.netloc:
        raise Refused("credentials in the URL are not allowed (the signature authenticates modelreg)")
    if not parts.hostname:
        raise Refused("the URL names no host")
    if settings.allowed_urls and not any(_under(parts, prefix) for prefix in settings.allowed_urls):
        raise Refused("the URL is not under one of events.allowed_urls")
    literal = _literal(parts.hostname)
    if literal is not None:
        _check_address(literal, settings, "the address")
    return parts


def _under(parts: SplitResult, prefix: str) -> bool:
    allowed = urlsplit(prefix.strip())
    if (allowed.scheme, allowed.hostname) != (parts.scheme, parts.hostname):
        return False
    if (allowed.port or DEFAULT_PORTS.get(allowed.scheme)) != (parts.port or DEFAULT_PORTS[parts.scheme]):
        return False
    base = allowed.path.rstrip("/")
    return not base or parts.path == base or parts.path.startswith(base + "/")


def _literal(host: str) -> IPAddress | None:
    try:
        return _unwrap(ipaddress.ip_address(host))
    except ValueError:
        return None


def _unwrap(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _check_address(address: IPAddress, settings: EventsSettings, what: str) -> None:
    if _public(address) or any(address in network for network in _networks(tuple(settings.allowed_networks))):
        return
    raise Refused(
        f"{what} {address}, which is not a public address (loopback, link-local, private or reserved) and not in "
        "events.allowed_networks"
    )


def _public(address: IPAddress) -> bool:
    return address.is_global and not (
        address.is_multicast or address.is_loopback or address.is_link_local or address.is_reserved
    )


@lru_cache(maxsize=16)
def _networks(cidrs: Sequence[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())
    except ValueError as exc:
        raise Refused(f"events.allowed_networks holds an invalid network: {exc}") from None
