"""tpe_insight: see what your ``ThreadPoolExecutor`` pools are doing, by changing one import.

``from tpe_insight import ThreadPoolExecutor`` is a drop-in for the stdlib class that records
each task's queue wait, run time, CPU time and outcome, worker births, initializer and callback
failures, and exports them as Prometheus metrics and structlog events.
"""

from tpe_insight.executor import StdlibThreadPoolExecutor, ThreadPoolExecutor
from tpe_insight.lifecycle import PoolInfo, Sink, TaskInfo
from tpe_insight.logs import StructlogSink
from tpe_insight.metrics import DEFAULT_BUCKETS, METRICS
from tpe_insight.naming import named
from tpe_insight.patch import install, installed, uninstall
from tpe_insight.patterns import fail_fast
from tpe_insight.server import start_metrics_server
from tpe_insight.timeline import Profile, Recorder, Timeline, profile

__all__ = [
    "DEFAULT_BUCKETS",
    "METRICS",
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
