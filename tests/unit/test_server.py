"""The metrics endpoint: serves the registry on /metrics, loopback by default, checked args."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from tpe_insight import ThreadPoolExecutor, start_metrics_server


def test_serves_the_registry_on_loopback() -> None:
    registry = CollectorRegistry()
    with ThreadPoolExecutor(1, name="served", registry=registry) as pool:
        pool.submit(int).result()
    server, thread = start_metrics_server(0, registry=registry)
    try:
        assert server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        assert 'tpe_tasks_submitted_total{pool="served"} 1.0' in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(
    ("port", "error", "match"),
    [("80", TypeError, "port must be an int"), (70000, ValueError, "between 0 and 65535")],
)
def test_bad_ports_are_named(port: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        start_metrics_server(port)  # type: ignore[arg-type]
