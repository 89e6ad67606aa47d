"""The metrics server's rules: no client can stall the scrape, idle connections end, mutual TLS
needs a CA, and a busy port says which address and port."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from tpe_insight import start_metrics_server


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for 127.0.0.1 (the client trusts it directly)."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command line tool is required for the TLS tests")
    cwd = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.crt", "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=cwd)  # fmt: skip
    return cwd


@pytest.fixture
def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    Counter("probe", "a sample to find in the scrape", registry=reg).inc()
    return reg


def _get(url: str, context: ssl.SSLContext | None = None) -> str:
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        return response.read().decode()  # type: ignore[no-any-return]


@pytest.fixture
def tls_server(cert: Path, registry: CollectorRegistry) -> Iterator[tuple[int, ssl.SSLContext]]:
    server, _ = start_metrics_server(
        0,
        registry=registry,
        certfile=str(cert / "server.crt"),
        keyfile=str(cert / "server.key"),
        handshake_timeout=60,
    )
    client = ssl.create_default_context(cafile=str(cert / "server.crt"))
    try:
        yield server.server_port, client
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(60)
def test_a_client_that_never_handshakes_does_not_block_scrapes(
    tls_server: tuple[int, ssl.SSLContext],
) -> None:
    port, client = tls_server
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        # With the handshake in the accept loop, this scrape waited for the silent clients.
        assert "probe_total 1.0" in _get(f"https://127.0.0.1:{port}/metrics", client)
    finally:
        for sock in silent:
            sock.close()


@pytest.mark.timeout(60)
def test_a_stalled_handshake_is_dropped_after_the_handshake_timeout(
    cert: Path, registry: CollectorRegistry
) -> None:
    server, _ = start_metrics_server(
        0,
        registry=registry,
        certfile=str(cert / "server.crt"),
        keyfile=str(cert / "server.key"),
        handshake_timeout=0.2,
    )
    try:
        with socket.create_connection(("127.0.0.1", server.server_port)) as sock:
            sock.settimeout(30)  # a safety net only: the server closes long before
            assert sock.recv(1) == b""  # closed by the server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(60)
def test_an_idle_plain_http_connection_is_closed(registry: CollectorRegistry) -> None:
    server, _ = start_metrics_server(0, registry=registry, idle_timeout=0.2)
    try:
        port = server.server_port
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /metr")  # half a request, then silence
            sock.settimeout(30)
            assert sock.recv(1) == b""
        assert "probe_total 1.0" in _get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        server.server_close()


def test_mutual_tls_without_a_ca_is_refused_naming_the_option(cert: Path) -> None:
    with pytest.raises(ValueError, match="client_auth_required=True needs client_cafile"):
        start_metrics_server(
            0,
            registry=CollectorRegistry(),
            certfile=str(cert / "server.crt"),
            keyfile=str(cert / "server.key"),
            client_auth_required=True,
        )


@pytest.mark.parametrize("option", ["handshake_timeout", "idle_timeout"])
@pytest.mark.parametrize("bad", [0, -1.0, True, "5"])
def test_timeouts_are_validated(option: str, bad: object) -> None:
    with pytest.raises(ValueError, match=option):
        start_metrics_server(0, registry=CollectorRegistry(), **{option: bad})  # type: ignore[arg-type]


def test_a_busy_port_names_the_address_and_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"127\.0\.0\.1:{port}") as info:
            start_metrics_server(port, registry=CollectorRegistry())
    assert info.value.errno is not None
