"""``profile()`` and :class:`Profile`: start and stop recording, and the shortcuts to outputs.

Usage::

    with tpe_insight.profile() as prof:
        run_the_program()
    print(prof.summary())
    prof.write_report("report.html")

or ``prof = tpe_insight.profile(); prof.start(); ...; prof.stop()``. Only pools constructed
while the profile is active are recorded (a pool reads the global sinks once, at construction),
including pools created through the stdlib import (``patch_stdlib=True``, the default, applies
:func:`tpe_insight.install` for the duration); to record one pool only, pass
``sinks=[recorder]`` to it instead.

The session sits on top of the profiler: it imports the recorder and the outputs, and nothing in
the profiler imports it, so there is no cycle to dodge.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from tpe_insight.patch import install, uninstall
from tpe_insight.profiler.jsonout import write_summary_json
from tpe_insight.profiler.recorder import Recorder
from tpe_insight.profiler.report import write_report
from tpe_insight.profiler.text import render_summary
from tpe_insight.profiler.timeline import DEFAULT_CAPACITY, DEFAULT_STUCK_AFTER, Timeline
from tpe_insight.profiler.trace import write_trace

__all__ = ["Profile", "profile"]


# -- profile(): the user-facing start/stop object -------------------------------------------------


class Profile:
    """Records every instrumented pool created between :meth:`start` and :meth:`stop`.

    By default (``patch_stdlib=True``) it also applies :func:`tpe_insight.install` for the
    duration, so pools created through ``concurrent.futures.ThreadPoolExecutor`` (the stdlib
    import, and libraries that use it) are recorded too, as ``tpe-insight run`` records them;
    :func:`tpe_insight.uninstall` is applied at :meth:`stop` (calls nest, so an install() the
    program made stays in effect). ``patch_stdlib=False`` records only
    ``tpe_insight.ThreadPoolExecutor`` pools. ``metrics=False`` makes the pools it instruments
    through the stdlib export no Prometheus metrics (``install(metrics=False)``): what
    ``tpe-insight run`` does unless asked, since a profile does not need them.
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        stuck_after: float = DEFAULT_STUCK_AFTER,
        patch_stdlib: bool = True,
        metrics: bool = True,
    ) -> None:
        self.recorder = Recorder(capacity, stuck_after=stuck_after)
        self.patch_stdlib = patch_stdlib
        self.metrics = metrics
        self._timeline: Timeline | None = None
        self._patched = False
        self._active = False

    def start(self) -> Profile:
        """Begin recording pools created from now on. Returns self."""
        if self._active:
            raise RuntimeError("profile already started")
        if self.patch_stdlib:
            install(metrics=self.metrics)  # calls nest: stop()'s uninstall() undoes this one
            self._patched = True
        self.recorder.attach()
        self._active = True
        self._timeline = None
        return self

    def stop(self) -> Timeline:
        """Stop attaching to new pools and freeze the timeline (pools already recorded keep
        reporting to the recorder, but the frozen timeline no longer changes)."""
        if self._active:
            self.recorder.detach()
            if self._patched:
                uninstall()
                self._patched = False
            self._active = False
            self._timeline = self.recorder.snapshot()
        if self._timeline is None:
            self._timeline = self.recorder.snapshot()
        return self._timeline

    @property
    def timeline(self) -> Timeline:
        """The frozen timeline after :meth:`stop`, a fresh snapshot while running."""
        if self._timeline is not None:
            return self._timeline
        return self.recorder.snapshot()

    def summary(self) -> str:
        """The terminal summary (headline numbers, per-task table, what-if, lints)."""
        return render_summary(self.timeline)

    def write_trace(self, path: str | Path) -> Path:
        """Write the Chrome/Perfetto trace JSON; return the path."""
        return write_trace(self.timeline, Path(path))

    def write_report(self, path: str | Path, *, include_messages: bool = False) -> Path:
        """Write the self-contained HTML report; return the path. Exception messages are left
        out unless ``include_messages`` (classes and counts are always there)."""
        return write_report(self.timeline, Path(path), include_messages=include_messages)

    def write_summary_json(self, path: str | Path) -> Path:
        """Write ``summary.json`` (numbers and the model's claims; schema in
        ``docs/profiler-model.md``); return the path."""
        return write_summary_json(self.timeline, Path(path))

    def __enter__(self) -> Profile:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def profile(
    capacity: int = DEFAULT_CAPACITY,
    *,
    stuck_after: float = DEFAULT_STUCK_AFTER,
    patch_stdlib: bool = True,
    metrics: bool = True,
) -> Profile:
    """Record the pools created in a ``with`` block (or between ``start()`` and ``stop()``).

    ``capacity`` bounds the spans kept with per-span detail (past it, a sample whose rule the
    trace and report state; totals and percentiles always cover every span);
    ``stuck_after`` is the age in seconds past which a still-running task is reported as stuck;
    ``patch_stdlib`` (default True) also records pools created through the stdlib import;
    ``metrics=False`` keeps those pools out of the Prometheus metrics.
    """
    return Profile(capacity, stuck_after=stuck_after, patch_stdlib=patch_stdlib, metrics=metrics)
