"""Run a command while CPU-hog processes keep every core busy; exit with the command's status.

``make test-loaded`` runs the test suite this way: the suite must pass on a loaded machine (no
test may depend on getting a core when it wants one). One hog process per core (or ``--hogs N``)
spins in a pure-Python loop at normal priority until the command ends; the hogs are stopped
whatever happens to the command.

Usage: python scripts/with_cpu_hog.py [--hogs N] -- COMMAND [ARGS...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys


def _spin() -> None:
    x = 0
    while True:  # a hog, by definition
        x = (x * 31 + 7) % 1_000_003


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required after --")
    if args.hogs < 1:
        parser.error(f"--hogs must be at least 1, got {args.hogs}")
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.hogs)]
    for hog in hogs:
        hog.start()
    print(f"with_cpu_hog: {args.hogs} hog processes running", file=sys.stderr, flush=True)
    try:
        return subprocess.call(command)
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            hog.join(10)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
