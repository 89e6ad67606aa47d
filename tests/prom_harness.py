"""Helpers for the tests that run the real Prometheus tools on our dashboards and rules.

Not a test module: ``tests/test_grafana_*.py`` and ``tests/test_alerts.py`` import it. It starts
``/usr/bin/prometheus`` on 127.0.0.1 with a temporary TSDB, talks to its HTTP API, runs
``promtool``, reads the dashboards and substitutes Grafana's template variables the way
Grafana's Prometheus data source does.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
RULES_FILE = ROOT / "prometheus" / "alerts.yml"
RULES_TEST_FILE = ROOT / "prometheus" / "alerts_test.yml"

INSTALL_HINT = (
    "install the Debian package 'prometheus' (apt-get install prometheus; .ci/run does it)"
)


def tool(name: str) -> str:
    """Path of a Prometheus binary; fails the test (never skips) when it is missing."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"{name} not found on PATH nor in /usr/bin: {INSTALL_HINT}", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a Prometheus server -----------------------------------------------------------------------


class PrometheusError(Exception):
    """The HTTP API answered with an error (bad query, execution error)."""


class Prometheus:
    """A throwaway Prometheus server: ``start()``, query its API, ``stop()``."""

    def __init__(self, workdir: Path, config: str, rule_files: tuple[Path, ...] = ()) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        for rule_file in rule_files:
            shutil.copy(rule_file, workdir / rule_file.name)
        self.config_file = workdir / "prometheus.yml"
        self.config_file.write_text(config, encoding="utf-8")
        self.log_file = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_within: float = 30.0) -> None:
        binary = tool("prometheus")
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail(f"prometheus exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self._fail(f"prometheus was not ready within {ready_within:.0f} s")

    def _fail(self, why: str) -> None:
        self.stop()
        log = self.log_file.read_text(encoding="utf-8", errors="replace")[-3000:]
        pytest.fail(
            f"could not start {tool('prometheus')} on 127.0.0.1:{self.port}: {why}.\n"
            f"Its log:\n{log}",
            pytrace=False,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # -- API --

    def api(self, path: str, **params: str | list[str]) -> Any:
        """GET /api/v1/<path>; returns ``data``, raises PrometheusError on an API error."""
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query at the server's now; returns the result series."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise PrometheusError(f"expected a vector, got {data['resultType']}")
        return list(data["result"])

    def series_label_values(self, match: str, label: str) -> set[str]:
        """What Grafana's ``label_values(match, label)`` lists."""
        return {s[label] for s in self.api("series", **{"match[]": match}) if label in s}


# -- dashboards and variables ------------------------------------------------------------------


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON file, by file name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARD_DIR.glob("*.json"))
    }


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows; rows themselves excluded."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str

    @property
    def key(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def panel_queries() -> list[PanelQuery]:
    out = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                out.append(PanelQuery(name, panel["title"], target["refId"], target["expr"]))
    return out


def variable_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Query variables of a dashboard: name -> query text."""
    out = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            out[var["name"]] = query["query"] if isinstance(query, dict) else query
    return out


LABEL_VALUES = re.compile(r"^label_values\((?P<match>.+),\s*(?P<label>[a-zA-Z_]\w*)\)$")

_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]/])")


def grafana_regex_escape(value: str) -> str:
    """What Grafana's ``${var:regex}`` format writes for one value: every regex metacharacter
    (and ``/``) behind one backslash (``kbn.regexEscape``); quotes are left as they are."""
    return _REGEX_SPECIAL.sub(r"\\\1", value)


def grafana_regex_values(*values: str) -> str:
    """``${var:regex}`` of a multi-value selection: ``(a|b)``, each value escaped."""
    escaped = [grafana_regex_escape(value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace ``${name:regex}`` / ``$name`` / ``${name}`` with ``values[name]`` (longest names
    first); the values are what Grafana would write, i.e. already formatted."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("${" + name + ":regex}", values[name])
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    leftover = re.search(r"\$\{?\w+", expr)
    if leftover:
        raise AssertionError(f"unsubstituted variable {leftover.group(0)} in {expr}")
    return expr


def grafana_builtins(rate_interval: str) -> dict[str, str]:
    """Grafana's interval variables for a dashboard refreshed at a short range."""
    return {
        "__rate_interval": rate_interval,
        "__interval": "1s",
        "__interval_ms": "1000",
        "__range": "5m",
        "__range_s": "300",
        "__range_ms": "300000",
    }


# -- promtool ----------------------------------------------------------------------------------


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def check_promql(exprs: dict[str, str], workdir: Path) -> dict[str, str]:
    """Parse PromQL with promtool, offline: returns {key: error} for the expressions that fail.

    Each expression becomes a recording rule in its own group of a JSON rule file (JSON is
    YAML), so ``promtool check rules`` parses it and names the failing group in its error.
    """
    keys = sorted(exprs)
    groups = [
        {"name": f"q{i}", "rules": [{"record": f"lint:q{i}", "expr": exprs[key]}]}
        for i, key in enumerate(keys)
    ]
    path = workdir / "promql_check.yml"
    path.write_text(json.dumps({"groups": groups}, indent=1), encoding="utf-8")
    result = promtool("check", "rules", str(path))
    if result.returncode == 0:
        return {}
    output = result.stdout + result.stderr
    errors = {}
    for i, key in enumerate(keys):
        match = re.search(rf'group "q{i}", rule \d+, "lint:q{i}": (.*)', output)
        if match:
            errors[key] = match.group(1)
    if not errors:
        errors["<promtool>"] = output
    return errors
