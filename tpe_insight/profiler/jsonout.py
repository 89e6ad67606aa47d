"""``summary.json``: the profiler's numbers and claims, for programs (CI gates, dashboards, the
sweep) rather than people. Written beside ``trace.json`` and ``report.html``.

The shape is versioned (``schema_version``) and described by :data:`SCHEMA`, a JSON Schema
(draft 2020-12) kept here as data, so the documentation (``docs/profiler-model.md``), the tests
(which validate real output against it with the ``jsonschema`` package) and the writer cannot
drift apart. A claim the model cannot make is ``null``, never a guessed number: the
``value`` of ``serial_seconds`` / ``speedup`` and ``predicted_wall_seconds`` of a what-if row are
null exactly where the model says "cannot tell", and the range (``low``/``high``) is then the
answer. Numbers that do not exist (the CPU share of a pool that ran nothing) are null too:
JSON has no NaN.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tpe_insight.profiler import lints
from tpe_insight.profiler.model import MODEL_STATEMENT, Estimate, PoolModel
from tpe_insight.profiler.stats import Analysis, PoolStats, analyse
from tpe_insight.profiler.timeline import Timeline
from tpe_insight.typing import ALL_OUTCOMES, WORK_TYPES

__all__ = ["SCHEMA", "SCHEMA_VERSION", "summary_dict", "write_summary_json"]

#: Bumped on any change a reader could notice (a field removed, renamed or retyped).
SCHEMA_VERSION = 1

_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}
_RANGE: dict[str, Any] = {
    "type": "object",
    "required": ["value", "low", "high"],
    "additionalProperties": False,
    "properties": {"value": _NUMBER_OR_NULL, "low": _NUMBER_OR_NULL, "high": _NUMBER_OR_NULL},
}

#: The JSON Schema of summary.json, version :data:`SCHEMA_VERSION`.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "tpe-insight summary.json",
    "type": "object",
    "required": ["schema", "schema_version", "model", "cores", "dropped", "pools", "lints"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": "tpe-insight/summary"},
        "schema_version": {"const": SCHEMA_VERSION},
        "model": {"type": "string"},
        "cores": {"type": ["integer", "null"], "minimum": 1},
        "dropped": {"type": "integer", "minimum": 0},
        "lints": {"$ref": "#/$defs/lints"},
        "pools": {"type": "array", "items": {"$ref": "#/$defs/pool"}},
    },
    "$defs": {
        "range": _RANGE,
        "lints": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "pool": {
            "type": "object",
            "required": [
                "label",
                "pool_id",
                "max_workers",
                "tasks",
                "wall_seconds",
                "run_seconds",
                "cpu_seconds",
                "run_queue_seconds",
                "serial_seconds",
                "speedup",
                "work_type",
                "reason",
                "cpu_share",
                "core_load",
                "what_if",
                "lints",
                "machine_load",
            ],
            "additionalProperties": False,
            "properties": {
                "label": {"type": "string"},
                "pool_id": {"type": "integer"},
                "max_workers": {"type": "integer", "minimum": 1},
                "tasks": {
                    "type": "object",
                    "required": list(ALL_OUTCOMES),
                    "additionalProperties": False,
                    "properties": {o: {"type": "integer", "minimum": 0} for o in ALL_OUTCOMES},
                },
                "wall_seconds": {"type": "number", "minimum": 0},
                "run_seconds": {"type": "number", "minimum": 0},
                "cpu_seconds": {"type": "number", "minimum": 0},
                "run_queue_seconds": _NUMBER_OR_NULL,
                "serial_seconds": {"$ref": "#/$defs/range"},
                "speedup": {"$ref": "#/$defs/range"},
                "work_type": {"enum": list(WORK_TYPES)},
                "reason": {"type": "string"},
                "cpu_share": _NUMBER_OR_NULL,
                "core_load": _NUMBER_OR_NULL,
                "what_if": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "max_workers",
                            "predicted_wall_seconds",
                            "low",
                            "high",
                            "recorded",
                        ],
                        "additionalProperties": False,
                        "properties": {
                            "max_workers": {"type": "integer", "minimum": 1},
                            "predicted_wall_seconds": _NUMBER_OR_NULL,
                            "low": _NUMBER_OR_NULL,
                            "high": _NUMBER_OR_NULL,
                            "recorded": {"type": "boolean"},
                        },
                    },
                },
                "lints": {"$ref": "#/$defs/lints"},
                "machine_load": {
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": [
                                "other_cores",
                                "cores",
                                "other_cpu_seconds",
                                "excess_seconds",
                            ],
                            "additionalProperties": False,
                            "properties": {
                                "other_cores": {"type": "number", "minimum": 0},
                                "cores": {"type": "integer", "minimum": 1},
                                "other_cpu_seconds": {"type": "number", "minimum": 0},
                                "excess_seconds": {"type": "number", "minimum": 0},
                            },
                        },
                    ]
                },
            },
        },
    },
}


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a number that does not exist is null."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def _range(estimate: Estimate) -> dict[str, float | None]:
    return {
        "value": _number(estimate.value),
        "low": _number(estimate.low),
        "high": _number(estimate.high),
    }


#: The claims of a pool the model did not read (a PoolStats made without one; ``analyse``
#: always models every pool, a sampled one from its totals).
_SAMPLED_REASON = "the model did not read this pool: cannot tell (tpe-insight sweep measures)"


def _pool(pool: PoolStats, model: PoolModel | None, found: list[lints.Lint]) -> dict[str, Any]:
    record = pool.record
    own = f"{record.label} #{record.pool_id}"
    if model is None:
        nothing: dict[str, float | None] = {"value": None, "low": None, "high": None}
        return {
            "label": record.label,
            "pool_id": record.pool_id,
            "max_workers": record.max_workers,
            "tasks": dict(pool.counts),
            "wall_seconds": pool.wall,
            "run_seconds": pool.run_total,
            "cpu_seconds": pool.cpu_total,
            "run_queue_seconds": None,
            "serial_seconds": dict(nothing),
            "speedup": dict(nothing),
            "work_type": "unknown",
            "reason": _SAMPLED_REASON,
            "cpu_share": _number(pool.cpu_share),
            "core_load": _number(pool.core_load),
            "what_if": [],
            "machine_load": None,
            "lints": [
                {"code": lint.code, "message": lint.message} for lint in found if lint.pool == own
            ],
        }
    return {
        "label": record.label,
        "pool_id": record.pool_id,
        "max_workers": record.max_workers,
        "tasks": dict(pool.counts),
        "wall_seconds": model.wall_seconds,
        "run_seconds": model.run_seconds,
        "cpu_seconds": model.cpu_seconds,
        "run_queue_seconds": _number(model.run_queue_seconds),
        "serial_seconds": _range(model.serial_seconds),
        "speedup": _range(model.speedup),
        "work_type": model.work_type,
        "reason": model.reason,
        "cpu_share": _number(pool.cpu_share),
        "core_load": _number(pool.core_load),
        "what_if": [
            {
                "max_workers": w.max_workers,
                "predicted_wall_seconds": _number(w.predicted_wall_seconds),
                "low": _number(w.low),
                "high": _number(w.high),
                "recorded": w.recorded,
            }
            for w in model.what_if
        ],
        "machine_load": _machine_load(model),
        "lints": [
            {"code": lint.code, "message": lint.message} for lint in found if lint.pool == own
        ],
    }


def _machine_load(model: PoolModel) -> dict[str, Any] | None:
    """The other processes' CPU while an I/O or mixed pool ran (Linux), or null."""
    peer = model.local_peer
    if peer is None:
        return None
    return {
        "other_cores": peer.other_cores,
        "cores": peer.cores,
        "other_cpu_seconds": peer.other_cpu_seconds,
        "excess_seconds": peer.excess_seconds,
    }


def summary_dict(timeline: Timeline | Analysis) -> dict[str, Any]:
    """The summary as a JSON-ready dict matching :data:`SCHEMA`."""
    analysis = timeline if isinstance(timeline, Analysis) else analyse(timeline)
    found = list(lints.check(analysis))
    pools = [_pool(pool, pool.model, found) for pool in analysis.pools]
    owned = {f"{p['label']} #{p['pool_id']}" for p in pools}
    return {
        "schema": "tpe-insight/summary",
        "schema_version": SCHEMA_VERSION,
        "model": MODEL_STATEMENT,
        "cores": analysis.timeline.cores,
        "dropped": analysis.timeline.dropped,
        "pools": pools,
        # Lints that are not about one pool instance (dropped spans, pool-per-call labels).
        "lints": [
            {"code": lint.code, "message": lint.message} for lint in found if lint.pool not in owned
        ],
    }


def write_summary_json(timeline: Timeline | Analysis, path: Path) -> Path:
    """Write ``summary.json`` (strict JSON: no NaN) to ``path``; return it."""
    text = json.dumps(summary_dict(timeline), indent=1, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
