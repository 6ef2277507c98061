"""Who the client is behind a reverse proxy: [web] trusted_proxies, and nothing else, decides.

A request's peer is the reverse proxy when the web app sits behind one. The proxy tells who
reached it in X-Forwarded-For, *appending* that address to whatever the client wrote there
(nginx: ``proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for``). So only the
right-most entries are the proxies' word; the ones before are the client's, and anyone can
write anything there. The client is the right-most address in X-Forwarded-For that is not
a trusted proxy, and the header is read only from a peer that is one.

The login limiter counts failures per client: were a value the client wrote taken as the
client, a new value per guess would be a new client, and guesses would be unlimited.

napflow serve turns uvicorn's own handling of these headers off (it trusts
``$FORWARDED_ALLOW_IPS``, ``*`` even, whatever napflow is told); this middleware does it
instead, from the settings, in every worker.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES = {"http": {"http": "http", "https": "https"}, "websocket": {"http": "ws", "https": "wss"}}


def ip_address(text: str) -> _Address | None:
    """Return the IP address ``text`` names (with a port or brackets too), or None.

    An IPv4 address written as IPv6 (``::ffff:192.0.2.1``, from a dual-stack listener) is
    the IPv4 address: one client, one spelling.
    """
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 192.0.2.1:4711
        text = text.partition(":")[0]
    try:
        found = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


class TrustedProxies:
    """The addresses and networks of [web] trusted_proxies."""

    def __init__(self, proxies: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(p.strip(), strict=False) for p in proxies]

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return any(address in network for network in self.networks)


def forwarded_client(
    peer: str | None, forwarded_for: Sequence[str], trusted: TrustedProxies
) -> str | None:
    """Return the client a request from ``peer`` comes from, or None: the peer itself.

    ``forwarded_for`` is the request's X-Forwarded-For header lines, in order (they are
    one list). Read only when the peer is a trusted proxy: from the right, each proxy
    address is a hop between proxies; the first that is not one is the client. A hop that
    is no IP address ends the walk: the nearest proxy known stands for the client (so
    does the peer, when there is no hop at all). When every hop is a proxy, the client is
    the farthest of them.
    """
    if peer is None or ip_address(peer) not in trusted:
        return None
    hops = [hop for line in forwarded_for for hop in line.split(",")]
    nearest: _Address | None = None
    for hop in reversed(hops):
        address = ip_address(hop)
        if address is None:
            break
        if address not in trusted:
            return str(address)
        nearest = address
    return None if nearest is None else str(nearest)


class ForwardedHeaders:
    """ASGI middleware: the client and scheme of a request that came through a trusted proxy.

    Sets ``scope["client"]`` to :func:`forwarded_client`'s answer (port 0: unknown), and
    ``scope["scheme"]`` to the proxy's X-Forwarded-Proto (the right-most value of the last
    such header, http or https), which marks session cookies Secure. From any other peer
    both headers are ignored.
    """

    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str]) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the scope of a request through a trusted proxy, then pass it on."""
        if scope["type"] in _SCHEMES:
            self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        peer = scope.get("client")
        host = peer[0] if peer else None
        if ip_address(host or "") not in self.trusted:
            return
        forwarded_for: list[str] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1")
        client = forwarded_client(host, forwarded_for, self.trusted)
        if client is not None:
            # in place, as uvicorn's access log reads this very scope
            scope["client"] = (client, 0)
        if proto is not None:
            scheme = _SCHEMES[scope["type"]].get(proto.split(",")[-1].strip().lower())
            if scheme is not None:
                scope["scheme"] = scheme
