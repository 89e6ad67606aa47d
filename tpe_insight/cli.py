"""``tpe-insight``: profile a program's thread pools, re-render a saved trace, or run the demo.

``tpe-insight run [--out DIR] script.py [args…]`` and ``tpe-insight run [--out DIR] -m module
[args…]`` work like ``python -m cProfile``: the program runs in this interpreter as
``__main__``, with :func:`tpe_insight.install` applied first, so pools it creates through
``concurrent.futures`` are instrumented and recorded. Its stdout is untouched (our summary goes to
stderr) and its exit code is ours.

It behaves like ``python script.py`` / ``python -m module``: ``__file__`` is absolute, ``-m``
finds modules in the current directory, ``--out`` is resolved before the program starts (a
program that changes directory still gets its profile where you asked), and neither a closed
stdout pipe (``| head``) nor an odd thread name changes the exit code.

Every usage error (bad option, missing script or module, unreadable or foreign trace, unwritable
output directory) is one line on stderr and exit code 2, never a traceback: a traceback would
read as a crash of the profiled program.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import os
import runpy
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from tpe_insight import demo
from tpe_insight.metrics.server import start_metrics_server
from tpe_insight.profiler import sweep
from tpe_insight.profiler.jsonout import write_summary_json
from tpe_insight.profiler.report import write_report
from tpe_insight.profiler.session import Profile
from tpe_insight.profiler.stats import analyse
from tpe_insight.profiler.text import render_summary
from tpe_insight.profiler.timeline import DEFAULT_CAPACITY, DEFAULT_STUCK_AFTER, Timeline
from tpe_insight.profiler.trace import TraceError, read_trace, write_trace

__all__ = ["Progress", "UsageError", "main", "resolve_program"]

PROG = "tpe-insight"
DEFAULT_OUT = Path("tpe-insight-out")
DEFAULT_SWEEP_OUT = Path("tpe-insight-sweep")
TRACE_FILE = "trace.json"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"

#: Seconds of post-processing after which :class:`Progress` starts talking.
PROGRESS_AFTER = 1.0


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
        usage=f"{PROG} run [-h] [--out DIR] [--include-messages] [--capacity N] "
        "[--stuck-after S] [--metrics] [--serve PORT] "
        "(script.py | -m module) [args ...]",
        description="Run a Python program with tpe_insight.install() applied, record every "
        "thread pool it creates, then write trace.json, report.html and summary.json to --out "
        "and print a summary to stderr. The program's stdout and exit code are preserved. "
        "The pools it instruments export no Prometheus metrics unless --metrics or --serve is "
        "given: the profile does not need them and nothing else reads them, so the run does "
        "not pay for them (pools the program builds with tpe_insight itself keep theirs).",
    )
    _output_option(run)
    _messages_option(run)
    run.add_argument(
        "--capacity",
        type=int,
        default=DEFAULT_CAPACITY,
        help=f"spans kept with per-span detail (default {DEFAULT_CAPACITY}): past it, a sample "
        "whose rule is written in the trace and report; totals always cover every span",
    )
    run.add_argument(
        "--stuck-after",
        type=float,
        default=DEFAULT_STUCK_AFTER,
        metavar="S",
        help="report tasks still running this many seconds after they started when the "
        f"program ends (default {DEFAULT_STUCK_AFTER:g})",
    )
    run.add_argument(
        "--metrics",
        action="store_true",
        help="keep the tpe_* Prometheus metrics of the instrumented pools, in the default "
        "registry (for a program that serves its own /metrics); off by default",
    )
    run.add_argument(
        "--serve",
        type=int,
        default=None,
        metavar="PORT",
        help="serve the tpe_* metrics on http://127.0.0.1:PORT/metrics while the program "
        "runs (implies --metrics; 0 picks a free port, printed on stderr)",
    )
    report = commands.add_parser(
        "report",
        help="re-render report.html and the summary from a saved trace.json",
        description="Read a trace.json written by 'tpe-insight run' (or "
        "profile().write_trace()), write report.html and print the summary.",
    )
    report.add_argument("trace", type=Path, help="the trace.json to read")
    _messages_option(report)
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
    sweep_parser = commands.add_parser(
        "sweep",
        help="re-run a program at several max_workers and measure, beside the predictions",
        usage=f"{PROG} sweep [-h] [--workers 1,2,4,8] [--repeat N] [--pool LABEL] [--out DIR] "
        "[--timeout S] (script.py | -m module) [args ...]",
        description="Run the program (under 'tpe-insight run', each time in a fresh "
        "interpreter) for each worker count with max_workers forced for the chosen pool label "
        "(every pool by default); print the measured pool wall time (median, spread) and the "
        "program's wall time beside the prediction, and a recommendation; write sweep.json. "
        "The program's stdout and stderr go to files under --out. Exit code 1 when a run "
        "failed (it is listed), else 0.",
    )
    sweep_parser.add_argument(
        "--workers",
        default=",".join(str(k) for k in sweep.DEFAULT_WORKERS),
        metavar="LIST",
        help="comma-separated max_workers to run (default %(default)s)",
    )
    sweep_parser.add_argument(
        "--repeat", type=int, default=3, metavar="N", help="runs per max_workers (default 3)"
    )
    sweep_parser.add_argument(
        "--pool",
        default=None,
        metavar="LABEL",
        help="force max_workers for this pool label only and time its pools (default: all)",
    )
    sweep_parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_SWEEP_OUT,
        metavar="DIR",
        help=f"directory for sweep.json and each run's files (default ./{DEFAULT_SWEEP_OUT})",
    )
    sweep_parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop a run after S seconds (reported as a failure; default: no limit)",
    )
    return parser, {"run": run, "report": report, "demo": demo_parser, "sweep": sweep_parser}


def _messages_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-messages",
        action="store_true",
        help="show exception messages in report.html (default: classes and counts only, "
        "since a report is meant to be shared and messages can hold user data)",
    )


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
            raise UsageError("a command is required: run, sweep, report or demo")
        if args_list[0] == "run":
            return _run(subparsers["run"], args_list[1:])
        if args_list[0] == "demo":
            return _demo(subparsers["demo"], args_list[1:])
        if args_list[0] == "sweep":
            return _sweep(subparsers["sweep"], args_list[1:])
        args = parser.parse_args(args_list)
        if args.command == "report":
            return _report(args.trace, args.out, include_messages=args.include_messages)
        raise UsageError(f"unknown command {args_list[0]!r}")  # pragma: no cover - argparse
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


# -- run ----------------------------------------------------------------------------------------


def _split_run_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Our options come before the program; everything from the script (or ``-m``) on is the
    program's, including options that look like ours."""
    takes_value = {
        "--out",
        "--capacity",
        "--stuck-after",
        "--serve",
        "--workers",
        "--repeat",
        "--pool",
        "--timeout",
    }
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
    if args.serve is not None and not 0 <= args.serve <= 65535:
        raise UsageError("--serve needs a port between 0 and 65535")
    script, module, program_args = resolve_program(program)
    # Absolute now: the program may change directory, and its profile still belongs here.
    out = _prepare_out(args.out.resolve())
    server = None
    if args.serve is not None:
        try:
            server, _thread = start_metrics_server(args.serve)
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on port {args.serve}: {exc}") from None
        print(
            f"{PROG}: serving metrics on http://127.0.0.1:{server.server_port}/metrics",
            file=sys.stderr,
            flush=True,
        )

    # Metrics only when asked (design note 36): the profile reads the sink events, not them.
    metrics = args.metrics or server is not None
    prof = Profile(args.capacity, stuck_after=args.stuck_after, patch_stdlib=True, metrics=metrics)
    prof.start()
    # The objects that exist now (the interpreter's, tpe_insight's and its dependencies'
    # modules, ~20k) live until exit; frozen, the collector stops walking them in every full
    # collection of the program's own objects (design note 37). The program's objects are
    # collected as under `python`; unfreeze() hands the frozen ones back when it returns.
    # Objects someone else froze first (a sitecustomize, an embedding tool; mypy does it in
    # process) are theirs to thaw: then we leave the freezer alone.
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        code = _run_program(script, module, program_args)
    finally:
        if freeze:
            gc.unfreeze()
        timeline = prof.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
    _flush_stdout()
    try:
        _write_outputs(timeline, out, summary_to=sys.stderr, include_messages=args.include_messages)
    except OSError as exc:
        print(f"{PROG}: error: cannot write the report to {out}: {exc}", file=sys.stderr)
        return code or 2
    return code


def resolve_program(program: list[str]) -> tuple[Path | None, str | None, list[str]]:
    """``(script, module, args)`` from ``script.py args…`` or ``-m module args…``; UsageError
    when the script or module does not exist. A module is looked up as ``python -m`` would:
    the current directory first on ``sys.path``."""
    if not program:
        raise UsageError("a script or -m module is required")
    if program[0] == "-m":
        if len(program) < 2:
            raise UsageError("-m needs a module name")
        module = program[1]
        saved = sys.path[:]
        sys.path.insert(0, os.getcwd())
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError) as exc:
            raise UsageError(f"cannot find module {module!r}: {exc}") from None
        finally:
            sys.path[:] = saved
        if spec is None:
            raise UsageError(f"no module named {module!r}")
        return None, module, program[2:]
    script = Path(program[0])
    if not script.is_file():
        raise UsageError(f"no such script: {script}")
    return script, None, program[1:]


def _flush_stdout() -> None:
    """Flush the program's stdout; if its reader went away (``| head``), point stdout at
    /dev/null so the interpreter's own flush at exit cannot turn a BrokenPipeError into exit
    code 120 (the recipe of the ``signal`` module's docs)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _run_program(script: Path | None, module: str | None, args: list[str]) -> int:
    """Run the program as ``__main__`` like the interpreter would; return its exit code."""
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    try:
        if script is not None:
            sys.argv = [str(script), *args]
            # As `python script.py`: the script's directory comes first on sys.path, and
            # __file__ is absolute.
            absolute = script.resolve()
            if sys.path:
                sys.path[0] = str(absolute.parent)
            runpy.run_path(str(absolute), run_name="__main__")
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


def _write_outputs(
    timeline: Timeline, out: Path, *, summary_to: TextIO, include_messages: bool = False
) -> None:
    with Progress(timeline.recorded) as progress:
        progress.step("analysing")
        analysis = analyse(timeline)
        progress.step(f"writing {TRACE_FILE}")
        trace = write_trace(timeline, out / TRACE_FILE)
        progress.step(f"writing {REPORT_FILE}")
        report = write_report(analysis, out / REPORT_FILE, include_messages=include_messages)
        progress.step(f"writing {SUMMARY_FILE}")
        summary_json = write_summary_json(analysis, out / SUMMARY_FILE)
        progress.step("summarising")
        summary = render_summary(analysis)
    _print_safely(summary, summary_to)
    _print_safely(
        f"\n{PROG}: wrote {trace} (open in https://ui.perfetto.dev), {report} "
        f"(file://{report.resolve()}) and {summary_json}",
        summary_to,
    )


def _print_safely(text: str, stream: TextIO) -> None:
    """Print our own output so that it cannot fail the run: characters the stream cannot
    encode are escaped, and a closed pipe is ignored (the profile is already on disk)."""
    try:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        print(text.encode(encoding, "backslashreplace").decode(encoding), file=stream)
        stream.flush()
    except (BrokenPipeError, ValueError):
        if stream is sys.stdout:
            _flush_stdout()
    except OSError:
        pass


class Progress:
    """Progress lines on stderr for post-processing that takes over a second.

    Nothing is printed for a quick run. A timer fires after :data:`PROGRESS_AFTER` seconds and
    prints the step in progress; from then on each step is printed as it starts, with the time
    so far. Why a timer thread: a step's length is not known before it runs, and the silence
    after a big program's last line is what this exists to end.
    """

    def __init__(
        self, tasks: int, stream: TextIO | None = None, *, after: float = PROGRESS_AFTER
    ) -> None:
        self.tasks = tasks
        self.stream = stream if stream is not None else sys.stderr
        self.spoke = threading.Event()  # set once the first progress line is out
        self._step = ""
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._loud = False
        self._timer = threading.Timer(after, self._wake)
        self._timer.daemon = True

    def __enter__(self) -> Progress:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            if self._loud:
                self._say(f"done in {time.monotonic() - self._started:.1f} s")

    def step(self, name: str) -> None:
        with self._lock:
            self._step = name
            if self._loud:
                self._say(f"{name}…")

    def _wake(self) -> None:
        with self._lock:
            self._loud = True
            self._say(f"post-processing {self.tasks:,} recorded task(s): {self._step}…")
        self.spoke.set()

    def _say(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        with contextlib.suppress(Exception):
            print(f"{PROG}: [{elapsed:5.1f} s] {text}", file=self.stream, flush=True)


# -- sweep --------------------------------------------------------------------------------------


def _sweep(parser: _Parser, argv: list[str]) -> int:
    own, program = _split_run_args(argv)
    args = parser.parse_args(own)
    if not program:
        raise UsageError("sweep needs a script or -m module")
    try:
        workers = sweep.parse_workers(args.workers)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError("--timeout must be > 0 seconds")
    resolve_program(program)  # a missing script or module is a usage error, before any run
    out = _prepare_out(args.out.resolve())
    result = sweep.run_sweep(
        program,
        workers=workers,
        repeat=args.repeat,
        pool=args.pool,
        out=out,
        timeout=args.timeout,
        progress=sys.stderr,
    )
    _print_safely(sweep.render_table(result), sys.stdout)
    _print_safely(f"\n{PROG}: wrote {out / sweep.SWEEP_FILE}", sys.stdout)
    return 1 if any(run.failed for run in result.runs) else 0


# -- report -------------------------------------------------------------------------------------


def _report(trace: Path, out: Path | None, *, include_messages: bool = False) -> int:
    try:
        timeline = read_trace(trace)
    except TraceError as exc:
        raise UsageError(str(exc)) from None
    target = _prepare_out(out if out is not None else trace.parent)
    analysis = analyse(timeline)
    report = write_report(analysis, target / REPORT_FILE, include_messages=include_messages)
    print(render_summary(analysis))
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
