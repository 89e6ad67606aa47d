"""A throwaway local PostgreSQL server, for ``make demo-postgres``, the tests and the benchmark.

``initdb`` into a fresh temporary directory, ``pg_ctl start`` listening on 127.0.0.1 on a free
port (no Unix socket outside that directory), and on exit ``pg_ctl stop`` and the directory
removed, also on Ctrl-C or an exception (a context manager, plus ``atexit`` for the paths a
``with`` cannot cover, such as ``sys.exit`` from a signal handler)::

    with ThrowawayCluster() as cluster:
        run(cluster.dsn)

Why our own ~150 lines rather than pytest-postgresql or testing.postgresql: both run ``initdb``
as the calling user, and PostgreSQL refuses to run as root, which is what CI runs as. Here, as
root, every server command runs as an unprivileged system user (``postgres`` when Debian's
package created it, else ``nobody``) through ``subprocess``'s ``user=``/``group=``; as any other
user, as that user. The server binaries are found on ``PATH``, in ``$PG_BIN``, or in Debian's
``/usr/lib/postgresql/<version>/bin`` (not on ``PATH`` there), newest version first.

The cluster is tuned for being thrown away (``fsync=off``, no WAL archiving) and authenticates
TCP logins with SCRAM and a random password, so a wrong password is refused as on a real server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["ClusterError", "ThrowawayCluster", "find_bindir"]

DEBIAN_ROOT = Path("/usr/lib/postgresql")
USER = "tpe"
START_TIMEOUT_S = 60


class ClusterError(RuntimeError):
    """The throwaway server could not be found, created or started (one-line message)."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``; :class:`ClusterError` if there is none."""
    candidates: list[Path] = []
    if env := os.environ.get("PG_BIN"):
        candidates.append(Path(env))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.name)) or (0,)

    if DEBIAN_ROOT.is_dir():
        versions = sorted(DEBIAN_ROOT.iterdir(), key=version, reverse=True)
        candidates.extend(v / "bin" for v in versions)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH, in $PG_BIN or in "
        f"{DEBIAN_ROOT}/<version>/bin: install Debian's 'postgresql' package (.ci/run does)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_account() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise ClusterError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class ThrowawayCluster:
    """One temporary PostgreSQL cluster; :attr:`dsn` is valid between start and stop."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.root: Path | None = None
        self._account = _server_account()
        self._running = False

    @property
    def datadir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres", password: str | None = None) -> str:
        """A libpq URI for ``dbname`` as the cluster's superuser."""
        secret = self.password if password is None else password
        return f"postgresql://{USER}:{secret}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        uid, gid = self._account if self._account is not None else (None, None)
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=check,
            # Its own session: Ctrl-C in the terminal reaches us, and we stop the server in
            # order, instead of the server receiving the SIGINT too.
            start_new_session=True,
            cwd="/",
            timeout=START_TIMEOUT_S + 30,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )

    def start(self) -> ThrowawayCluster:
        self.root = Path(tempfile.mkdtemp(prefix="tpe-pg-"))
        atexit.register(self.stop)
        try:
            if self._account is not None:
                os.chown(self.root, *self._account)
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password + "\n", encoding="utf-8")
            if self._account is not None:
                os.chown(pwfile, *self._account)
            try:
                self._run(
                    "initdb", "-D", str(self.datadir), "-U", USER, f"--pwfile={pwfile}",
                    "--auth-local=trust", "--auth-host=scram-sha-256",
                    "-E", "UTF8", "--locale=C", "--no-sync",
                )  # fmt: skip
            except subprocess.CalledProcessError as exc:
                raise ClusterError(f"initdb failed: {_last_line(exc.stderr)}") from None
            pwfile.unlink()
            for _attempt in range(3):  # another process may take the free port meanwhile
                self.port = _free_port()
                options = (
                    f"-c listen_addresses=127.0.0.1 -p {self.port} "
                    f"-c unix_socket_directories={self.root} "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                )
                result = self._run(
                    "pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile),
                    "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start",
                    check=False,
                )  # fmt: skip
                if result.returncode == 0:
                    self._running = True
                    return self
            raise ClusterError(f"pg_ctl start failed: {self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _log_tail(self) -> str:
        try:
            return _last_line(self.logfile.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return "no server log"

    def stop(self) -> None:
        """Stop the server (fast shutdown: running queries are cancelled) and remove its files.
        Idempotent; never raises."""
        atexit.unregister(self.stop)
        if self._running:
            self._running = False
            with contextlib.suppress(Exception):
                self._run(
                    "pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False
                )
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> ThrowawayCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
