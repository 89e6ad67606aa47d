"""``start_metrics_server``: serve ``/metrics`` safely by default.

prometheus_client's ``start_http_server`` is a fine exposition but a fragile server: it binds
every interface by default, runs the TLS handshake in its accept loop (one client that connects
and never speaks blocks every scrape while it stays connected), keeps a thread per idle
connection forever, trusts the system's public CAs for client certificates when mutual TLS is
asked for without a CA, and reports a busy port as a bare ``OSError``. So we keep its WSGI app
(``prometheus_client.make_wsgi_app``, the exposition and content negotiation) and serve it
with the stdlib's ``wsgiref`` + ``socketserver.ThreadingMixIn`` ourselves, with these rules:

* bind ``127.0.0.1`` unless told otherwise, and log where we listen;
* the TLS handshake runs in the connection's own thread, under ``handshake_timeout``;
* a connection idle for ``idle_timeout`` (no request, or a request that stalls) is closed;
* ``client_auth_required=True`` needs ``client_cafile`` or ``client_capath``: a ``ValueError``
  naming the option otherwise;
* a port that cannot be bound raises ``OSError`` naming the address and port.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app

__all__ = ["start_metrics_server"]

_log = logging.getLogger("tpe_insight")


class _Handler(WSGIRequestHandler):
    """One request per connection, under the server's idle timeout, without access logs."""

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are frequent; logging each one would drown the application's logs."""


class _Server(ThreadingMixIn, WSGIServer):
    """A thread per connection; TLS, when on, is negotiated in that thread."""

    daemon_threads = True  # never block interpreter exit on a scraper
    ssl_context: ssl.SSLContext | None = None
    handshake_timeout = 10.0
    idle_timeout = 30.0

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handler leaves the socket's timeout as it finds it (its own ``timeout`` is None).
        if self.ssl_context is None:
            request.settimeout(self.idle_timeout)
            super().finish_request(request, client_address)
            return
        request.settimeout(self.handshake_timeout)
        try:
            tls = self.ssl_context.wrap_socket(
                request, server_side=True, do_handshake_on_connect=False
            )
            tls.do_handshake()
            tls.settimeout(self.idle_timeout)
        except OSError:  # ssl.SSLError and timeouts included: refuse this client only
            with contextlib.suppress(OSError):
                request.close()
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went silent or away is routine for a server on a network; anything
        # else is reported the stdlib's way (a traceback on stderr).
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def _positive(option: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{option} must be a positive number of seconds, got {value!r}")
    return float(value)


def _ssl_context(
    *,
    certfile: str,
    keyfile: str,
    protocol: int,
    cafile: str | None,
    capath: str | None,
    client_auth_required: bool,
) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    if cafile is not None or capath is not None:
        context.load_verify_locations(cafile, capath)
    if client_auth_required:
        context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    return context


def start_metrics_server(
    port: int,
    addr: str = "127.0.0.1",
    registry: CollectorRegistry | None = None,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    client_cafile: str | None = None,
    client_capath: str | None = None,
    protocol: int = ssl.PROTOCOL_TLS_SERVER,
    client_auth_required: bool = False,
    handshake_timeout: float = 10.0,
    idle_timeout: float = 30.0,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve the registry's metrics on ``http(s)://addr:port/metrics`` in a daemon thread.

    ``port=0`` picks a free port (read it from ``server.server_port``). TLS is on when
    ``certfile`` and ``keyfile`` are given; ``client_auth_required=True`` with
    ``client_cafile``/``client_capath`` turns on mutual TLS. ``handshake_timeout`` bounds a TLS
    handshake, ``idle_timeout`` how long a connection may sit without completing a request.
    Returns ``(server, thread)``; call ``server.shutdown()`` and ``server.server_close()`` to
    stop.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    if not isinstance(addr, str) or not addr:
        raise ValueError(f"addr must be a non-empty host address, got {addr!r}")
    if (certfile is None) != (keyfile is None):
        raise ValueError("certfile and keyfile must be given together")
    if client_auth_required and certfile is None:
        raise ValueError("client_auth_required needs TLS: give certfile and keyfile")
    if client_auth_required and client_cafile is None and client_capath is None:
        raise ValueError(
            "client_auth_required=True needs client_cafile or client_capath: without them every"
            " certificate signed by a public CA of the system would be trusted"
        )
    handshake = _positive("handshake_timeout", handshake_timeout)
    idle = _positive("idle_timeout", idle_timeout)
    if registry is None:
        registry = REGISTRY
    context = None
    if certfile is not None and keyfile is not None:
        context = _ssl_context(
            certfile=certfile,
            keyfile=keyfile,
            protocol=protocol,
            cafile=client_cafile,
            capath=client_capath,
            client_auth_required=client_auth_required,
        )

    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(
            addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise OSError(exc.errno, f"cannot serve metrics on {addr}:{port}: {exc.strerror}") from exc

    class Server(_Server):
        address_family = family
        ssl_context = context
        handshake_timeout = handshake
        idle_timeout = idle

    try:
        server = make_server(str(sockaddr[0]), port, make_wsgi_app(registry), Server, _Handler)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot serve metrics on {addr}:{port}: {exc.strerror}") from exc
    thread = threading.Thread(
        target=server.serve_forever, name="tpe_insight-metrics-server", daemon=True
    )
    thread.start()
    scheme = "https" if context is not None else "http"
    _log.info(
        "tpe_insight: serving metrics on %s://%s:%d/metrics (bound to %s%s)",
        scheme,
        addr,
        server.server_port,
        addr,
        ", loopback only" if addr in ("127.0.0.1", "::1", "localhost") else "",
    )
    return server, thread
