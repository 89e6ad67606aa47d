"""The one at-fork registry: renewals run in order, the hook is installed once and lazily."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tpe_insight import _fork


def test_renewals_run_in_registration_order() -> None:
    """The child's hook calls every registered renewal, first registered first."""
    calls: list[str] = []
    first = _fork.on_fork_in_child(lambda: calls.append("first"))
    second = _fork.on_fork_in_child(lambda: calls.append("second"))
    try:
        _fork._after_fork_in_child()
        assert calls[-2:] == ["first", "second"]
    finally:
        _fork._renewals.remove(first)
        _fork._renewals.remove(second)


def test_on_fork_in_child_returns_the_function() -> None:
    """Usable as a decorator: the module keeps its function under its own name."""

    def renew() -> None:
        return None

    try:
        assert _fork.on_fork_in_child(renew) is renew
    finally:
        _fork._renewals.remove(renew)


def test_a_forked_child_gets_fresh_locks_only_once_installed() -> None:
    """In a fresh process, nothing is installed until asked; then a child renews the locks."""
    code = textwrap.dedent(
        """
        import json, os
        from tpe_insight import _fork, _fanout
        installed_at_import = _fork._installed
        _fork.ensure_installed()
        _fork.ensure_installed()  # idempotent
        lock = _fanout._sinks_lock
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, json.dumps(_fanout._sinks_lock is not lock).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        print(json.dumps([installed_at_import, _fork._installed, json.loads(os.read(r, 100))]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == [False, True, True]
