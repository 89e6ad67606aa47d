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
    """install() works in place: the stdlib class's own methods are swapped for the profile's
    duration and the very same function objects are back after stop()."""
    stdlib = concurrent.futures.ThreadPoolExecutor
    before = {name: vars(stdlib)[name] for name in ("__init__", "submit", "shutdown")}
    with Profile(patch_stdlib=True) as prof:
        assert concurrent.futures.ThreadPoolExecutor is stdlib  # the name is never replaced
        assert tpe_insight.installed()
        assert vars(stdlib)["submit"] is not before["submit"]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(int).result()
    assert not tpe_insight.installed()
    assert {name: vars(stdlib)[name] for name in before} == before
    assert len(prof.timeline.spans) == 1


def test_patch_stdlib_leaves_the_programs_install_in_effect() -> None:
    """install() calls nest: a profile inside an install() undoes only its own."""
    tpe_insight.install()
    try:
        with Profile(patch_stdlib=True):
            pass
        assert tpe_insight.installed()
    finally:
        tpe_insight.uninstall()
    assert not tpe_insight.installed()


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
