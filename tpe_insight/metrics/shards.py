"""Per-thread storage of the ``tpe_*`` counters: what the executor's hot path writes.

Why not prometheus_client's ``Counter`` and ``Histogram``? Their ``inc``/``observe`` take a lock
and allocate per call; two of them per task made a pool ~1.5x slower than the stdlib. Here the
hot path touches only plain integers and floats in a *shard* owned by the current thread, and
all aggregation (summing shards, cumulative buckets, gauges) happens at scrape time in
:class:`MetricsCollector`, the way ``Histogram.observe`` already defers cumulative sums.

Atomicity assumptions (documented because free-threaded CPython removes the GIL):

* a shard is written by exactly one thread, the one that owns it, so ``shard.x += 1`` can never
  lose an update, with or without the GIL;
* a scrape reads shard fields from another thread; a single attribute load is atomic in CPython
  (the GIL build and the free-threaded build alike), so it sees either the old or the new value;
* a scrape sums a series' shards while holding that series' lock, because retiring a dead
  thread's shard adds it into the ``retired`` total in place (a sum taken meanwhile could count
  it twice, and the next scrape would go backwards); only shard creation and scrapes take it;
* float sums (``_sum``, CPU seconds) are never exported lower than by the previous scrape:
  retiring changes their summation order, hence their rounding, and Prometheus reads any
  decrease of a counter as a reset;
* dict and set lookups done without a lock (label caches, ``exception_labels``) only race with
  insertions made under a lock; both builds make single dict/set operations atomic;
* the scrape sums "downstream" counters (finished, started) before "upstream" ones (submitted),
  so gauges derived from differences are never negative, even mid-flight;
* everything shared between threads (the shard lists, pool-level counters that any thread may
  bump) is guarded by a lock; those paths run per pool or per worker, not per task.

Dead threads' shards are folded into a ``retired`` total so the number of shards stays bounded by
the number of live threads, even when a program creates a pool (and its threads) per request.

After ``os.fork()`` the child starts with empty metrics (see :func:`_after_fork_in_child`): the
parent's workers and in-flight tasks do not exist there, and would otherwise show as tasks
running forever; prometheus_client's multiprocess mode likewise starts each process at zero.
"""

from __future__ import annotations

import threading
import weakref

from tpe_insight.labels import CappedLabels
from tpe_insight.metrics._scrape import add_columns, sum_columns
from tpe_insight.typing import REJECT_REASONS, RejectReason

__all__ = ["PoolSeries", "Shard", "TaskSeries", "TaskSnapshot"]


class _OwnerToken:
    """Lives only in its thread's ``threading.local`` slot of one series.

    CPython frees a thread's thread-local values when the thread's state is cleared, whatever
    started the thread (``threading``, ``_thread.start_new_thread``, a C extension's
    ``PyGILState_Ensure``), so "the token is gone" means "the owner can never write again".
    """

    __slots__ = ("__weakref__",)


class Shard:
    """One thread's counts for one (pool, task) series. Only its owner thread writes it."""

    __slots__ = (
        "cancelled",
        "cpu_sum",
        "exceptions",
        "failed",
        "not_run_failed",
        "owner",
        "run_counts",
        "run_sum",
        "started",
        "submitted",
        "succeeded",
        "wait_counts",
        "wait_sum",
    )

    def __init__(self, n_buckets: int, owner: weakref.ref[_OwnerToken] | None) -> None:
        # A weak reference to a token kept in the owner thread's thread-local slot, never the
        # Thread object: holding the Thread kept every stopped worker alive until the next
        # retire (CPython's own tests saw them as dangling threads), and threads not started
        # by ``threading`` have no Thread object that ever reports them dead.
        self.owner = owner
        self.submitted = 0
        self.started = 0
        self.succeeded = 0
        self.failed = 0
        self.cancelled = 0
        self.not_run_failed = 0
        self.wait_counts = [0] * n_buckets
        self.wait_sum = 0.0
        self.run_counts = [0] * n_buckets
        self.run_sum = 0.0
        self.cpu_sum = 0.0
        self.exceptions: dict[str, int] = {}

    def add(self, other: Shard) -> None:
        """Add ``other``'s counts into this shard (retiring a dead thread's shard)."""
        self.submitted += other.submitted
        self.started += other.started
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.not_run_failed += other.not_run_failed
        self.add_distributions(other)

    def add_distributions(self, other: Shard) -> None:
        """Add ``other``'s histograms, sums and exception counts (order-free, unlike counts)."""
        # Summed in C: with the fine bounds a histogram has 149 buckets (see metrics._scrape).
        self.wait_counts = add_columns(self.wait_counts, other.wait_counts)
        self.run_counts = add_columns(self.run_counts, other.run_counts)
        self.add_sums(other)

    def add_sums(self, other: Shard) -> None:
        """Add ``other``'s duration and CPU sums and exception counts."""
        self.wait_sum += other.wait_sum
        self.run_sum += other.run_sum
        self.cpu_sum += other.cpu_sum
        for name, n in list(other.exceptions.items()):
            self.exceptions[name] = self.exceptions.get(name, 0) + n


class TaskSnapshot(Shard):
    """A read of one (pool, task) series taken at scrape time, with the derived gauges.

    ``wait_rows`` and ``run_rows`` are the summed shards' own bucket lists, taken under the
    series' lock: the collector sums them per pool in one pass (a retire replaces
    ``_retired``'s lists rather than mutating them, and a dead thread's lists no longer change,
    so the rows stay a consistent read). ``wait_counts`` and ``run_counts`` are their sums only
    when the snapshot was taken with ``columns=True``.
    """

    __slots__ = ("run_rows", "wait_rows")

    def __init__(self, n_buckets: int) -> None:
        super().__init__(n_buckets, None)
        self.wait_rows: list[list[int]] = []
        self.run_rows: list[list[int]] = []

    @property
    def wait_count(self) -> int:
        """Queue waits observed (the summary's ``_count``), from the same read as the rows."""
        return sum(map(sum, self.wait_rows))

    @property
    def run_count(self) -> int:
        """Run times observed (the summary's ``_count``), from the same read as the rows."""
        return sum(map(sum, self.run_rows))

    @property
    def errors(self) -> int:
        """outcome="error": tasks that raised plus tasks failed by a broken pool before running."""
        return self.failed + self.not_run_failed

    @property
    def running(self) -> int:
        return max(0, self.started - self.succeeded - self.failed)

    @property
    def queued(self) -> int:
        return max(0, self.submitted - self.started - self.cancelled - self.not_run_failed)


class TaskSeries:
    """The counters of one (registry, pool label, task label), sharded per thread.

    The shard API, all the hot path uses: read ``series.local.shard`` (this thread's shard, one
    ``threading.local`` attribute read) and, on ``AttributeError``, call ``series.new_shard()``;
    then bump fields of the shard. :meth:`shard` does both, for paths where a call is cheap.
    """

    __slots__ = (
        "_exported",
        "_lock",
        "_retired",
        "_shards",
        "bounds",
        "export",
        "local",
        "pool",
        "task",
    )

    def __init__(self, pool: PoolSeries, task: str) -> None:
        self.pool = pool
        self.task = task
        # Counted per task so the shards stay per (pool, task); the scrape sums them per pool.
        self.bounds = pool.bounds
        self.local = threading.local()
        self._lock = threading.Lock()
        self._shards: list[Shard] = []
        self._retired = Shard(len(self.bounds) + 1, None)
        self._exported = (0.0, 0.0, 0.0)  # last wait_sum, run_sum, cpu_sum a snapshot returned
        self.export: object = None  # the collector's label dicts, built at the first scrape

    def shard(self) -> Shard:
        """This thread's shard, created on the thread's first use of this series."""
        try:
            return self.local.shard  # type: ignore[no-any-return]
        except AttributeError:
            return self.new_shard()

    def new_shard(self) -> Shard:
        """Create this thread's shard (the first time a thread writes this series)."""
        token = _OwnerToken()
        shard = Shard(len(self.bounds) + 1, weakref.ref(token))
        with self._lock:
            self._retire_dead()
            self._shards.append(shard)
        self.local.token = token
        self.local.shard = shard
        return shard

    def _retire_dead(self) -> None:
        """Fold shards of finished threads into ``_retired``; caller holds ``_lock``.

        A finished thread never writes again, so reading its shard here is race-free.
        """
        alive: list[Shard] = []
        for shard in self._shards:
            owner = shard.owner
            if owner is not None and owner() is None:
                self._retired.add(shard)
            else:
                alive.append(shard)
        self._shards = alive

    def snapshot(self, *, columns: bool = True) -> TaskSnapshot:
        """Sum the shards. Downstream counters are read before upstream ones (see module doc).
        With ``columns=False`` the bucket columns are left as rows (the scrape sums them per
        pool, all tasks at once: summing them per task first was most of a scrape's own cost).

        The whole sum runs under ``_lock``: retiring updates ``_retired`` in place, and a sum
        taken concurrently could count a dead thread's shard twice (once in ``_retired``, once
        on its own), so that the next scrape would see the counters go back. Only shard
        creation and other snapshots take this lock, never the per-task path.
        """
        with self._lock:
            self._retire_dead()
            snap = self._sum([self._retired, *self._shards], columns)
            # Retiring changes the order of the float sums, which can lower them by a rounding
            # error; Prometheus reads any decrease of a counter (or a histogram _sum) as a
            # reset. The true values only grow, so never export less than last time.
            wait_sum, run_sum, cpu_sum = self._exported
            snap.wait_sum = max(snap.wait_sum, wait_sum)
            snap.run_sum = max(snap.run_sum, run_sum)
            snap.cpu_sum = max(snap.cpu_sum, cpu_sum)
            self._exported = (snap.wait_sum, snap.run_sum, snap.cpu_sum)
        return snap

    def _sum(self, shards: list[Shard], columns: bool) -> TaskSnapshot:
        snap = TaskSnapshot(len(self.bounds) + 1 if columns else 0)
        # Order matters: finished -> started -> not-run -> submitted, so that
        # queued = submitted - started - not_run and running = started - finished are >= 0.
        for s in shards:
            snap.succeeded += s.succeeded
            snap.failed += s.failed
        for s in shards:
            snap.started += s.started
        for s in shards:
            snap.cancelled += s.cancelled
            snap.not_run_failed += s.not_run_failed
        for s in shards:
            snap.submitted += s.submitted
        snap.wait_rows = [s.wait_counts for s in shards]
        snap.run_rows = [s.run_counts for s in shards]
        if columns:  # in one pass each (see metrics._scrape.sum_columns)
            snap.wait_counts = sum_columns(snap.wait_rows)
            snap.run_counts = sum_columns(snap.run_rows)
        for s in shards:
            snap.add_sums(s)
        return snap


class PoolSeries:
    """Counters of one (registry, pool label): shared by every pool instance with that label.

    Pool-level events (workers, rejections, failures) are rare, so they take a lock; gauges that
    several live instances contribute to move by increments, never by assignment.
    """

    def __init__(
        self,
        label: str,
        bounds: tuple[float, ...],
        max_task_labels: int,
        max_exception_labels: int,
    ) -> None:
        self.label = label
        #: The per-pool histograms' bounds (the shards count in them, per task).
        self.bounds = bounds
        self.export: object = None  # the collector's label dicts, built at the first scrape
        self.lock = threading.RLock()  # RLock: worker_stopped may run from a finalizer
        self.tasks: dict[str, TaskSeries] = {}
        # The caps, like the bounds, are fixed by the first pool with this label: the series
        # are shared by every pool instance with the label.
        self.task_labels = CappedLabels(max_task_labels, f"pool {label!r}: max_task_labels")
        self.exception_labels = CappedLabels(max_exception_labels)
        self.rejected: dict[RejectReason, int] = dict.fromkeys(REJECT_REASONS, 0)
        self.workers_started = 0
        self.workers_stopped = 0
        self.workers_max = 0
        self.initializer_failures = 0
        self.callback_failures = 0
        self.instrumentation_errors: dict[str, int] = {}

    def task_series(self, task: str) -> TaskSeries:
        """The series for ``task``; past the cap on task labels, the shared ``other`` series."""
        series = self.tasks.get(task)
        if series is not None:
            return series
        task = self.task_labels.get(task)
        with self.lock:
            series = self.tasks.get(task)
            if series is None:
                series = self.tasks[task] = TaskSeries(self, task)
            return series

    def exception_label(self, name: str) -> str:
        """``name`` if this pool has seen it or has room for it, else ``other``."""
        return self.exception_labels.get(name)

    def rejected_one(self, reason: RejectReason) -> None:
        with self.lock:
            self.rejected[reason] += 1

    def worker_started(self) -> None:
        with self.lock:
            self.workers_started += 1

    def worker_stopped(self) -> None:
        with self.lock:
            self.workers_stopped += 1

    def pool_opened(self, max_workers: int) -> None:
        with self.lock:
            self.workers_max += max_workers

    def pool_closed(self, max_workers: int) -> None:
        with self.lock:
            self.workers_max -= max_workers

    def initializer_failed(self) -> None:
        with self.lock:
            self.initializer_failures += 1

    def callback_failed(self) -> None:
        with self.lock:
            self.callback_failures += 1

    def instrumentation_error(self, component: str) -> None:
        with self.lock:
            self.instrumentation_errors[component] = (
                self.instrumentation_errors.get(component, 0) + 1
            )
