"""tpe_insight: see what your ``ThreadPoolExecutor`` pools are doing, by changing one import.

``from tpe_insight import ThreadPoolExecutor`` is a drop-in for the stdlib class that records
each task's queue wait, run time, CPU time and outcome, worker births, initializer and callback
failures, and exports them as Prometheus metrics and structlog events.

This module is the public face only: ``__all__`` and re-exports. Importing it has no side
effect on the process (the logging filter and the at-fork hook are installed by the first pool).
See ``docs/architecture.md`` for the rooms behind it.
"""

from tpe_insight.events import PoolInfo, Sink, TaskInfo
from tpe_insight.executor import StdlibThreadPoolExecutor, ThreadPoolExecutor
from tpe_insight.futures import fail_fast, named
from tpe_insight.logs import StructlogSink
from tpe_insight.metrics.catalogue import DEFAULT_BUCKETS, METRICS, POOL_BUCKETS
from tpe_insight.metrics.server import start_metrics_server
from tpe_insight.patch import install, installed, uninstall
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.session import Profile, profile
from tpe_insight.profiler.timeline import Timeline

__all__ = [
    "DEFAULT_BUCKETS",
    "METRICS",
    "POOL_BUCKETS",
    "PoolInfo",
    "Profile",
    "Recorder",
    "Sink",
    "StdlibThreadPoolExecutor",
    "StructlogSink",
    "TaskInfo",
    "ThreadPoolExecutor",
    "Timeline",
    "fail_fast",
    "install",
    "installed",
    "named",
    "profile",
    "start_metrics_server",
    "uninstall",
]

__version__ = "0.1.0"
