"""profile() / Profile: attach while active, detach after, outputs from the frozen timeline."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import pytest

import tpe_insight
from tpe_insight import _fanout
from tpe_insight.profiler.session import Profile, profile


def test_profile_attaches_only_while_active_and_freezes_on_stop() -> None:
    prof = profile()
    assert prof.recorder not in _fanout.active()
    with prof:
        assert prof.recorder in _fanout.active()
        with tpe_insight.ThreadPoolExecutor(1, name="inside", metrics=False) as pool:
            pool.submit(int).result()
    assert prof.recorder not in _fanout.active()
    frozen = prof.timeline
    assert [p.label for p in frozen.pools] == ["inside"]
    assert prof.stop() is frozen  # stopping again keeps the frozen timeline


def test_patch_stdlib_is_undone_by_stop() -> None:
    before = dict(vars(concurrent.futures.ThreadPoolExecutor))
    with Profile(patch_stdlib=True) as prof:
        assert tpe_insight.installed()  # the stdlib class, instrumented in place
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(int).result()
    assert not tpe_insight.installed()
    after = dict(vars(concurrent.futures.ThreadPoolExecutor))
    assert all(after[name] is before[name] for name in before)
    assert len(prof.timeline.spans) == 1


def test_starting_twice_is_an_error() -> None:
    prof = profile().start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            prof.start()
    finally:
        prof.stop()


def test_outputs_are_written_from_the_timeline(tmp_path: Path) -> None:
    with profile() as prof, tpe_insight.ThreadPoolExecutor(2, name="out", metrics=False) as pool:
        pool.submit(int).result()
    trace = prof.write_trace(tmp_path / "t.json")
    report = prof.write_report(tmp_path / "r.html")
    assert json.loads(trace.read_text())["traceEvents"]
    assert "<html" in report.read_text().lower()
    assert "out" in prof.summary()
