"""``tpe-insight``: profile a program's thread pools, re-render a saved trace, or run the demo.

``tpe-insight run [--out DIR] script.py [args…]`` and ``tpe-insight run [--out DIR] -m module
[args…]`` work like ``python -m cProfile``: the program runs in this interpreter as
``__main__``, with :func:`tpe_insight.install` applied first, so pools it creates through
``concurrent.futures`` are instrumented and recorded. Its stdout is untouched (our summary goes to
stderr) and its exit code is ours.

Every usage error (bad option, missing script or module, unreadable or foreign trace, unwritable
output directory) is one line on stderr and exit code 2, never a traceback: a traceback would
read as a crash of the profiled program.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import runpy
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from tpe_insight import demo
from tpe_insight.profiler.jsonout import write_summary_json
from tpe_insight.profiler.report import write_report
from tpe_insight.profiler.session import Profile
from tpe_insight.profiler.text import render_summary
from tpe_insight.profiler.timeline import DEFAULT_CAPACITY, DEFAULT_STUCK_AFTER, Timeline
from tpe_insight.profiler.trace import TraceError, read_trace, write_trace

__all__ = ["UsageError", "main"]

PROG = "tpe-insight"
DEFAULT_OUT = Path("tpe-insight-out")
TRACE_FILE = "trace.json"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


class UsageError(Exception):
    """Bad arguments: reported as one line and exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _build_parser() -> tuple[_Parser, dict[str, _Parser]]:
    parser = _Parser(
        prog=PROG,
        description="See what your ThreadPoolExecutor pools are doing: record every task's "
        "lifecycle, write a Perfetto trace and a self-contained HTML report.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run a script or module with every thread pool profiled",
        usage=f"{PROG} run [-h] [--out DIR] [--capacity N] [--stuck-after S] "
        "(script.py | -m module) [args ...]",
        description="Run a Python program with tpe_insight.install() applied, record every "
        "thread pool it creates, then write trace.json, report.html and summary.json to --out "
        "and print a summary to stderr. The program's stdout and exit code are preserved.",
    )
    _output_option(run)
    run.add_argument(
        "--capacity",
        type=int,
        default=DEFAULT_CAPACITY,
        help=f"spans kept in the ring buffer (default {DEFAULT_CAPACITY}); older ones are "
        "dropped and counted",
    )
    run.add_argument(
        "--stuck-after",
        type=float,
        default=DEFAULT_STUCK_AFTER,
        metavar="S",
        help="report tasks still running this many seconds after they started when the "
        f"program ends (default {DEFAULT_STUCK_AFTER:g})",
    )
    report = commands.add_parser(
        "report",
        help="re-render report.html and the summary from a saved trace.json",
        description="Read a trace.json written by 'tpe-insight run' (or "
        "profile().write_trace()), write report.html and print the summary.",
    )
    report.add_argument("trace", type=Path, help="the trace.json to read")
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory for report.html (default: the trace's directory)",
    )
    demo_parser = commands.add_parser(
        "demo",
        add_help=False,
        help="run the demo (model variables on SQLite, or PostgreSQL with --dsn/--local-server)"
        " and write its trace and report",
        description="Run the demo, then write trace.json, report.html and summary.json to "
        "--out. Other options are the demo's own (see 'tpe-insight demo --help').",
    )
    _output_option(demo_parser)
    demo_parser.add_argument("-h", "--help", action="store_true")
    return parser, {"run": run, "report": report, "demo": demo_parser}


def _output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"directory for {TRACE_FILE} and {REPORT_FILE} (default ./{DEFAULT_OUT})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The console script. Returns the exit code (the profiled program's, for ``run``)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = _build_parser()
    try:
        if not args_list:
            parser.print_help(sys.stderr)
            raise UsageError("a command is required: run, report or demo")
        if args_list[0] == "run":
            return _run(subparsers["run"], args_list[1:])
        if args_list[0] == "demo":
            return _demo(subparsers["demo"], args_list[1:])
        args = parser.parse_args(args_list)
        if args.command == "report":
            return _report(args.trace, args.out)
        raise UsageError(f"unknown command {args_list[0]!r}")  # pragma: no cover - argparse
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


# -- run ----------------------------------------------------------------------------------------


def _split_run_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our options come before the program; everything from the script (or ``-m``) on is the
    program's, including options that look like ours."""
    takes_value = {"--out", "--capacity", "--stuck-after"}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "-m" or not token.startswith("-"):
            return argv[:i], argv[i:]
        if token == "--":
            return argv[:i], argv[i + 1 :]
        i += 2 if token in takes_value else 1
    return argv, []


def _run(parser: _Parser, argv: list[str]) -> int:
    own, program = _split_run_args(argv)
    args = parser.parse_args(own)
    if not program:
        raise UsageError("run needs a script or -m module")
    if args.capacity < 1:
        raise UsageError("--capacity must be at least 1")
    if not args.stuck_after >= 0:
        raise UsageError("--stuck-after must be >= 0")
    if program[0] == "-m":
        if len(program) < 2:
            raise UsageError("-m needs a module name")
        module, script = program[1], None
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError) as exc:
            raise UsageError(f"cannot find module {module!r}: {exc}") from None
        if spec is None:
            raise UsageError(f"no module named {module!r}")
        program_args = program[2:]
    else:
        module, script = None, Path(program[0])
        if not script.is_file():
            raise UsageError(f"no such script: {script}")
        program_args = program[1:]
    out = _prepare_out(args.out)

    prof = Profile(args.capacity, stuck_after=args.stuck_after, patch_stdlib=True)
    prof.start()
    try:
        code = _run_program(script, module, program_args)
    finally:
        timeline = prof.stop()
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    try:
        _write_outputs(timeline, out, summary_to=sys.stderr)
    except OSError as exc:
        print(f"{PROG}: error: cannot write the report to {out}: {exc}", file=sys.stderr)
        return code or 2
    return code


def _run_program(script: Path | None, module: str | None, args: list[str]) -> int:
    """Run the program as ``__main__`` like the interpreter would; return its exit code."""
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    try:
        if script is not None:
            sys.argv = [str(script), *args]
            # As `python script.py`: the script's directory comes first on sys.path.
            if sys.path:
                sys.path[0] = str(script.resolve().parent)
            runpy.run_path(str(script), run_name="__main__")
        else:
            assert module is not None
            sys.argv = [module, *args]  # run_module replaces argv[0] with the module's file
            if sys.path:
                sys.path[0] = os.getcwd()  # as `python -m`: the current directory
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        return 130
    except BaseException:  # the program crashed: report it as the interpreter would
        traceback.print_exc()
        return 1
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None and sys.path:
            sys.path[0] = saved_path0
    return 0


def _exit_code(code: object) -> int:
    """``SystemExit.code`` as the interpreter turns it into a process exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if code >= 0 else code % 256
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
    return 1


def _prepare_out(out: Path) -> Path:
    """Create ``out`` and prove it writable *before* running anything."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".tpe-insight-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"output directory {out} is not writable: {reason}") from None
    return out


def _write_outputs(timeline: Timeline, out: Path, *, summary_to: TextIO) -> None:
    trace = write_trace(timeline, out / TRACE_FILE)
    report = write_report(timeline, out / REPORT_FILE)
    summary = write_summary_json(timeline, out / SUMMARY_FILE)
    stream = summary_to
    print(render_summary(timeline), file=stream)
    print(
        f"\n{PROG}: wrote {trace} (open in https://ui.perfetto.dev), {report} "
        f"(file://{report.resolve()}) and {summary}",
        file=stream,
    )


# -- report -------------------------------------------------------------------------------------


def _report(trace: Path, out: Path | None) -> int:
    try:
        timeline = read_trace(trace)
    except TraceError as exc:
        raise UsageError(str(exc)) from None
    target = _prepare_out(out if out is not None else trace.parent)
    report = write_report(timeline, target / REPORT_FILE)
    print(render_summary(timeline))
    print(f"\n{PROG}: wrote {report} (file://{report.resolve()})")
    return 0


# -- demo ---------------------------------------------------------------------------------------


def _demo(parser: _Parser, argv: list[str]) -> int:
    args, demo_args = parser.parse_known_args(argv)
    if args.help:
        print(f"usage: {PROG} demo [--out DIR] [demo options]\n")
        print(
            f"  --out DIR   directory for {TRACE_FILE} and {REPORT_FILE} (default ./{DEFAULT_OUT})"
        )
        print("\nThe demo's own options:")
        demo_args = ["--help"]  # the demo's argparse prints them and exits 0
    else:
        _prepare_out(args.out)
    out = args.out
    with Profile() as prof:
        try:
            code = demo.main(demo_args)
        except SystemExit as exc:  # the demo's argparse: --help (0) or a bad option (2)
            return _exit_code(exc.code)
    if code in (2, 130):  # bad input, a lost server, Ctrl-C: no report of half a run
        return code
    _write_outputs(prof.timeline, out, summary_to=sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
