"""``max_workers`` forced from the environment: how ``tpe-insight sweep`` re-runs a program.

``tpe-insight sweep`` starts the program once per worker count with
:data:`ENV_MAX_WORKERS` set (and :data:`ENV_POOL` naming one pool label, or empty for every
pool). The instrumented constructor asks :func:`max_workers_for` once per pool, so the program
needs no change: its stdlib pools are ours under ``tpe-insight run``. Read once at import; an
unparsable value is ignored with one line on stderr, never an error in the user's program.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ENV_MAX_WORKERS", "ENV_POOL", "max_workers_for"]

ENV_MAX_WORKERS = "TPE_INSIGHT_SWEEP_MAX_WORKERS"
ENV_POOL = "TPE_INSIGHT_SWEEP_POOL"


def _read() -> int | None:
    raw = os.environ.get(ENV_MAX_WORKERS, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        print(
            f"tpe_insight: ignoring {ENV_MAX_WORKERS}={raw!r} (not a positive int)", file=sys.stderr
        )
        return None
    return value


_FORCED = _read()
_POOL = os.environ.get(ENV_POOL, "") or None


def max_workers_for(label: str, max_workers: int | None) -> int | None:
    """The ``max_workers`` a pool labelled ``label`` gets: the forced value when a sweep set
    one for this label (or for every pool), else what the program asked for."""
    if _FORCED is None or (_POOL is not None and label != _POOL):
        return max_workers
    return _FORCED
