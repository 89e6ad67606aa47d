"""summary.json: valid against its schema, claims null exactly where the model cannot tell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import tpe_insight
from tests.helpers import lanes
from tpe_insight import cli
from tpe_insight.executor import ThreadPoolExecutor
from tpe_insight.profiler.jsonout import SCHEMA, SCHEMA_VERSION, summary_dict
from tpe_insight.profiler.model import model_timeline
from tpe_insight.profiler.timeline import PoolRecord, Timeline, WorkerRecord


def _validate(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def _kinds() -> Timeline:
    """One pool per kind of work: I/O, GIL-bound, GIL-free CPU, one-at-a-time CPU, tiny, empty."""
    pools = [
        PoolRecord(1, "io", 4, 0.0, None),
        PoolRecord(2, "gil", 4, 0.0, None),
        PoolRecord(3, "free", 4, 0.0, None),
        PoolRecord(4, "serial", 1, 0.0, None),
        PoolRecord(5, "tiny", 2, 0.0, None),
        PoolRecord(6, "empty", 2, 0.0, None),
    ]
    spans = (
        lanes(8, lanes=4, run=0.1, cpu=0.001, pool_id=1)
        + lanes(8, lanes=4, run=0.4, cpu=0.1, pool_id=2)
        + lanes(8, lanes=4, run=0.2, cpu=0.1, pool_id=3)
        + lanes(4, lanes=1, run=0.1, cpu=0.1, pool_id=4)
        + lanes(10, lanes=2, run=1e-5, cpu=1e-5, pool_id=5)
    )
    # Worker ids are per timeline; reuse 1-4 per pool is fine for the model (it groups by
    # worker id), so give every pool the same readings: no run-queue wait except pool 3's.
    workers = [WorkerRecord(w, 1, f"w_{w}", 0.0, 100 + w, 0.0) for w in (1, 2, 3, 4)]
    timeline = Timeline(pools=pools, workers=workers, spans=spans, cores=2)
    timeline.run_queue_at_end = dict.fromkeys((1, 2, 3, 4), 0.0)
    return timeline


def test_summary_of_every_kind_of_work_is_valid() -> None:
    """The document validates against SCHEMA and names the schema version."""
    document = summary_dict(_kinds())
    _validate(document)
    assert document["schema_version"] == SCHEMA_VERSION
    assert [p["label"] for p in document["pools"]] == [
        "io",
        "gil",
        "free",
        "serial",
        "tiny",
        "empty",
    ]
    json.dumps(document, allow_nan=False)  # strict JSON: no NaN anywhere


def test_claims_are_null_exactly_where_the_model_cannot_tell() -> None:
    """serial, speedup and each what-if are null iff the model's value is None."""
    timeline = _kinds()
    models = {m.pool_id: m for m in model_timeline(timeline)}
    document = summary_dict(timeline)
    nulls = 0
    for pool in document["pools"]:
        model = models[pool["pool_id"]]
        assert (pool["serial_seconds"]["value"] is None) == (model.serial_seconds.value is None)
        assert (pool["speedup"]["value"] is None) == (model.speedup.value is None)
        assert pool["work_type"] == model.work_type
        assert len(pool["what_if"]) == len(model.what_if)
        for row, claim in zip(pool["what_if"], model.what_if, strict=True):
            assert row["max_workers"] == claim.max_workers
            assert (row["predicted_wall_seconds"] is None) == (claim.predicted_wall_seconds is None)
            nulls += row["predicted_wall_seconds"] is None
    assert nulls > 0  # the corpus has "cannot tell" rows, so the test can fail
    tiny = next(p for p in document["pools"] if p["label"] == "tiny")
    assert tiny["serial_seconds"]["value"] is None and tiny["work_type"] == "unknown"
    empty = next(p for p in document["pools"] if p["label"] == "empty")
    assert empty["cpu_share"] is None and empty["what_if"] == []


def test_lints_land_on_their_pool() -> None:
    """Per-pool lints in the pool, the others at the top."""
    timeline = _kinds()
    timeline.pool_instances = {"gil": 6}
    document = summary_dict(timeline)
    gil = next(p for p in document["pools"] if p["label"] == "gil")
    assert "cpu-bound" in [lint["code"] for lint in gil["lints"]]
    assert [lint["code"] for lint in document["lints"]] == ["pool-per-call"]


def test_profile_write_summary_json(tmp_path: Path) -> None:
    """Profile.write_summary_json writes a valid document for a real run."""
    with tpe_insight.profile() as prof, ThreadPoolExecutor(2, metrics=False, logs=False) as pool:
        list(pool.map(time.sleep, [0.001] * 6))
    path = prof.write_summary_json(tmp_path / "summary.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    _validate(document)
    (pool_doc,) = document["pools"]
    assert pool_doc["tasks"]["success"] == 6
    assert pool_doc["max_workers"] == 2


def test_run_writes_summary_json_beside_the_trace(tmp_path: Path) -> None:
    """``tpe-insight run`` writes summary.json into --out."""
    program = tmp_path / "prog.py"
    program.write_text(
        textwrap.dedent(
            """
            import time
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(time.sleep, [0.001] * 4))
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[1])}
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "tpe_insight.cli", "run", "--out", str(out), str(program)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    _validate(document)
    assert sum(p["tasks"]["success"] for p in document["pools"]) == 4


@pytest.mark.parametrize("broken", [{"schema_version": 2}, {"pools": [{"label": 1}]}])
def test_the_schema_rejects_what_it_should(broken: dict[str, Any]) -> None:
    """The validator is not vacuous: a wrong version or a malformed pool fails it."""
    document = {**summary_dict(_kinds()), **broken}
    with pytest.raises(jsonschema.ValidationError):
        _validate(document)
