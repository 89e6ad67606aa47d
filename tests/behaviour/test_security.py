"""Security: where the metrics server listens, TLS and mutual TLS, and what never leaves the
process (task arguments, results and exception messages).

Certificates are made by the test with the ``openssl`` command line tool.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest

from tpe_insight import ThreadPoolExecutor, named, start_metrics_server

SECRET = "s3cr3t-7f1d"  # stands for user data: SQL, keys, e-mail addresses


# -- where the server listens ---------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_server_binds_loopback_by_default_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tpe_insight")
    server, _ = start_metrics_server(0, registry=CollectorRegistry())
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        message = " ".join(r.getMessage() for r in caplog.records if r.name == "tpe_insight")
        assert f"127.0.0.1:{port}" in message
        assert "loopback only" in message
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            assert r.status == 200
        # Another loopback address reaches this host but not a socket bound to 127.0.0.1 only
        # (one bound to 0.0.0.0 would answer).
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.2", port), timeout=10),
        ):
            pass
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(30)
def test_binding_elsewhere_is_explicit_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tpe_insight")
    server, _ = start_metrics_server(0, addr="0.0.0.0", registry=CollectorRegistry())
    try:
        message = " ".join(r.getMessage() for r in caplog.records if r.name == "tpe_insight")
        assert "bound to 0.0.0.0" in message
        assert "loopback only" not in message
    finally:
        server.shutdown()
        server.server_close()


# -- TLS and mutual TLS ---------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _issue(ca: str, name: str, cwd: Path, *, server: bool) -> None:
    """A key and a certificate for ``name`` signed by the CA named ``ca``."""
    ext = cwd / f"{name}.ext"
    # Python 3.13 verifies with VERIFY_X509_STRICT: key usages and key identifiers required.
    common = (
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    if server:
        ext.write_text(
            common + "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        )
    else:
        ext.write_text(common + "extendedKeyUsage=clientAuth\n")
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=cwd)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", ext.name,
             cwd=cwd)  # fmt: skip


def _ca(name: str, cwd: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command line tool is required for the TLS tests")
    cwd = tmp_path_factory.mktemp("pki")
    _ca("ca", cwd)
    _ca("rogue-ca", cwd)
    _issue("ca", "server", cwd, server=True)
    _issue("ca", "client", cwd, server=False)
    _issue("rogue-ca", "rogue", cwd, server=False)
    return cwd


@pytest.fixture
def busy_registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    with ThreadPoolExecutor(2, name="p", registry=reg) as pool:
        pool.submit(pow, 2, 3).result()
    return reg


def _client(pki: Path, cert: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert is not None:
        context.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return context


def _get(url: str, context: ssl.SSLContext | None) -> str:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.read().decode()  # type: ignore[no-any-return]


@pytest.mark.timeout(60)
def test_tls(pki: Path, busy_registry: CollectorRegistry) -> None:
    server, _ = start_metrics_server(
        0,
        registry=busy_registry,
        certfile=str(pki / "server.crt"),
        keyfile=str(pki / "server.key"),
    )
    try:
        port = server.server_port
        text = _get(f"https://127.0.0.1:{port}/metrics", _client(pki, None))
        assert 'tpe_tasks_submitted_total{pool="p"} 1.0' in text
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            _get(f"http://127.0.0.1:{port}/metrics", None)  # plain HTTP gets no metrics
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cert", [None, "rogue"])
def test_mutual_tls_refuses_clients_without_a_trusted_certificate(
    pki: Path, busy_registry: CollectorRegistry, cert: str | None
) -> None:
    server, _ = start_metrics_server(
        0,
        registry=busy_registry,
        certfile=str(pki / "server.crt"),
        keyfile=str(pki / "server.key"),
        client_cafile=str(pki / "ca.crt"),
        client_auth_required=True,
    )
    try:
        url = f"https://127.0.0.1:{server.server_port}/metrics"
        assert "tpe_tasks_submitted_total" in _get(url, _client(pki, "client"))
        # Without a certificate, or with one from another CA: the handshake is refused (with
        # TLS 1.3 the client may only notice at its first read); no metrics either way.
        with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError, OSError)):
            _get(url, _client(pki, cert))
        # The server survives refused clients.
        assert "tpe_tasks_submitted_total" in _get(url, _client(pki, "client"))
    finally:
        server.shutdown()
        server.server_close()


def test_mutual_tls_needs_tls() -> None:
    with pytest.raises(ValueError, match="needs TLS"):
        start_metrics_server(0, registry=CollectorRegistry(), client_auth_required=True)


# -- user data never becomes a label or a log field -----------------------------------------------


class SecretError(Exception):
    pass


def leaky(argument: str, *, keyword: str) -> str:
    if argument.endswith("fail"):
        raise SecretError(f"cannot handle {argument} / {keyword}")
    return f"result for {argument} / {keyword}"


def _run_leaky_workload(**options: object) -> tuple[str, str, str]:
    """Run tasks whose arguments, results and exception messages hold SECRET; return the
    exposition, the structlog JSON output and the stdlib log output."""
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=out),
    )
    stdlib_out = io.StringIO()
    handler = logging.StreamHandler(stdlib_out)
    logger = logging.getLogger("tpe_insight")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        reg = CollectorRegistry()
        with ThreadPoolExecutor(2, name="p", registry=reg, logs=True, **options) as pool:  # type: ignore[arg-type]
            futures = [
                pool.submit(leaky, f"{SECRET}-ok", keyword=SECRET),
                pool.submit(leaky, f"{SECRET}-fail", keyword=SECRET),
                pool.submit(named("renamed", leaky, f"{SECRET}-fail", keyword=SECRET)),
            ]
            assert SECRET in futures[0].result()
            for future in futures[1:]:
                assert SECRET in str(future.exception())  # the caller still sees everything
        return generate_latest(reg).decode(), out.getvalue(), stdlib_out.getvalue()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        structlog.reset_defaults()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("log_tasks", [False, True])
def test_arguments_results_and_messages_stay_out_of_metrics_and_logs(log_tasks: bool) -> None:
    exposition, json_logs, stdlib_logs = _run_leaky_workload(log_tasks=log_tasks)
    assert SECRET not in exposition
    assert SECRET not in json_logs
    assert SECRET not in stdlib_logs
    events = [json.loads(line) for line in json_logs.splitlines()]
    failed = [e for e in events if e["event"] == "task_failed"]
    assert len(failed) == 2
    assert {e["exception_class"] for e in failed} == {f"{__name__}.SecretError"}
    assert f'exception="{__name__}.SecretError"' in exposition  # the class is the only data


@pytest.mark.timeout(60)
def test_exception_details_appear_only_when_enabled() -> None:
    _, json_logs, _ = _run_leaky_workload(log_exception_details=True)
    failed = [e for e in map(json.loads, json_logs.splitlines()) if e["event"] == "task_failed"]
    assert failed
    assert all(SECRET in e["exception"] for e in failed)  # the message and traceback
