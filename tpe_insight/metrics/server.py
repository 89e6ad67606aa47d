"""``start_metrics_server``: serve ``/metrics`` safely by default.

A thin layer over ``prometheus_client.start_http_server`` with two differences that matter in
production: it binds ``127.0.0.1`` unless told otherwise (prometheus_client binds every
interface by default), and it validates its arguments and logs where it listens.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

__all__ = ["start_metrics_server"]

_log = logging.getLogger("tpe_insight")


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
) -> tuple[WSGIServer, threading.Thread]:
    """Serve the registry's metrics on ``http(s)://addr:port/metrics`` in a daemon thread.

    ``port=0`` picks a free port (read it from ``server.server_port``). TLS is on when
    ``certfile`` and ``keyfile`` are given; ``client_auth_required=True`` with
    ``client_cafile``/``client_capath`` turns on mutual TLS. Returns ``(server, thread)``; call
    ``server.shutdown()`` to stop.
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
    if registry is None:
        registry = REGISTRY
    kwargs: dict[str, Any] = {}
    if certfile is not None:
        kwargs.update(
            certfile=certfile,
            keyfile=keyfile,
            client_cafile=client_cafile,
            client_capath=client_capath,
            protocol=protocol,
            client_auth_required=client_auth_required,
        )
    server, thread = start_http_server(port, addr=addr, registry=registry, **kwargs)
    scheme = "https" if certfile else "http"
    _log.info(
        "tpe_insight: serving metrics on %s://%s:%d/metrics (bound to %s%s)",
        scheme,
        addr,
        server.server_port,
        addr,
        ", loopback only" if addr in ("127.0.0.1", "::1", "localhost") else "",
    )
    return server, thread
