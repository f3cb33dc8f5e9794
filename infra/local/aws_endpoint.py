"""The embedded AWS endpoint (moto server) in a process of its own: ``python -m infra.local.aws_endpoint HOST PORT``.

``python -m infra.local`` starts it (``AwsEndpoint``) so that moto, the app's HTTP server and the
dispatcher no longer share one GIL. The protocol with the parent:

- stdout: one line, ``ready``, once the socket listens; afterwards stdout is stderr (the parent's log).
  A port it cannot bind: a message on stderr and exit 1, no ``ready``.
- stdin: the lifeline. End of file -- the parent closed it to stop the endpoint, exited, or was
  killed (SIGKILL included: the kernel closes the parent's end) -- stops the server and exits 0.
- SIGTERM or SIGINT stops it too (exit 0). It runs in a session of its own, so Ctrl-C in a terminal
  or a signal to the parent's process group does not reach it: the endpoint must outlive the app and
  the dispatcher, which still talk to it while the parent stops them; the parent ends it last.

DynamoDB requests are served one at a time, as before in the one process: the guarantee lives where
moto runs. So do the other patches of moto's and werkzeug's internals (``prepare_moto``; all of them
in infra/moto_patches.py, checked against the versions they were written for).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import IO, Any

logger = logging.getLogger("infra.local.aws")

READY = b"ready\n"
REPO_ROOT = Path(__file__).resolve().parents[2]

_ALARM_NOTE = "AWS::CloudWatch::Alarm"


class _DropUnsupportedAlarm(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _ALARM_NOTE not in record.getMessage()


_quiet_installed = False


def quiet_moto_alarm_warning() -> None:
    """moto's CloudFormation skips CloudWatch alarms (monitoring only; nothing local needs them)."""
    global _quiet_installed
    if _quiet_installed:
        return
    # Global on purpose: with a moto server the warning is raised in the server's request thread.
    warnings.filterwarnings("ignore", message=r".*AWS::CloudWatch::Alarm.*", category=UserWarning)
    logging.getLogger("moto").addFilter(_DropUnsupportedAlarm())
    _quiet_installed = True


def prepare_moto() -> None:
    """moto as the embedded endpoint runs it: the alarm warning quiet, and every patch of its
    internals (``infra.moto_patches.apply``: version-checked; DynamoDB requests serialized, per-request
    lookups cached, TransactWriteItems without whole-table copies, SendMessage without walking the queue)."""
    from infra import moto_patches

    quiet_moto_alarm_warning()
    moto_patches.apply()


def make_server(host: str, port: int) -> Any:
    """moto's WSGI app on a threaded werkzeug server (what ``ThreadedMotoServer`` runs), binding now."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server as make_wsgi_server

    from infra.moto_patches import keep_alive_handler

    return make_wsgi_server(
        host, port, DomainDispatcherApplication(create_backend_app), True, request_handler=keep_alive_handler()
    )


def serve(host: str, port: int, lifeline: int, ready: IO[bytes]) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    prepare_moto()
    try:
        server = make_server(host, port)
    except OSError as error:
        print(f"optout: embedded AWS endpoint cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    ready.write(READY)
    ready.flush()

    def watch_lifeline() -> None:
        # A raw read: a buffered reader's lock, held by this daemon thread, would abort the
        # interpreter's shutdown.
        while os.read(lifeline, 4096):  # the parent never writes; anything read is ignored
            pass
        stop.set()

    threading.Thread(target=watch_lifeline, name="lifeline", daemon=True).start()
    stop.wait()
    # Nothing to keep (state is in memory) and nothing left to answer (the parent stops its clients
    # first): skip werkzeug's shutdown poll and the interpreter's teardown of moto's backends.
    server.server_close()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("OPTOUT_LOCAL_DEBUG") else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    host, port = argv[0], int(argv[1])
    ready = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything printed later goes to the log, not into the parent's ready pipe
    sys.stdout = sys.stderr
    try:
        return serve(host, port, sys.stdin.fileno(), ready)
    finally:
        ready.close()


# -- the parent's side ----------------------------------------------------------------------------


class AwsEndpoint:
    """The child process serving the embedded endpoint: ``start()``, ``wait_ready()``, ``stop()``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.process: subprocess.Popen[bytes] | None = None
        # moto's request recorder (``/moto-api/recorder/start-recording``, ``download-recording``; off
        # until started) writes here rather than into the working directory, one file per endpoint.
        self.recording_path = os.environ.get("MOTO_RECORDER_FILEPATH") or str(
            Path(tempfile.gettempdir()) / f"optout-moto-recording-{os.getpid()}-{port}.jsonl"
        )

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> AwsEndpoint:
        """Launch the process; ``wait_ready`` returns once it listens (import other things meanwhile)."""
        self.process = subprocess.Popen(  # noqa: S603 -- our own module, same interpreter
            [sys.executable, "-m", "infra.local.aws_endpoint", self.host, str(self.port)],
            cwd=REPO_ROOT,
            env={**os.environ, "MOTO_RECORDER_FILEPATH": self.recording_path},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # the parent alone decides when it stops (see the module's doc)
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> AwsEndpoint:
        assert self.process is not None and self.process.stdout is not None
        answer: list[bytes] = []
        reader = threading.Thread(target=lambda: answer.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if answer != [READY]:
            code = self.stop()  # ends the reader's readline too
            reader.join()
            self.process.stdout.close()
            raise RuntimeError(f"the embedded AWS endpoint did not start (exit code {code})")
        self.process.stdout.close()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 5.0) -> int | None:
        """Close the lifeline, wait; SIGTERM, then SIGKILL if it lingers. Returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(OSError):  # a broken pipe: the child is gone already
                process.stdin.close()
        code: int | None
        for step in (None, process.terminate, process.kill):
            if step is not None:
                step()
            try:
                code = process.wait(timeout)
                break
            except subprocess.TimeoutExpired:
                logger.warning("embedded AWS endpoint (pid %d) still running", process.pid)
        else:
            code = process.poll()
        if not os.environ.get("MOTO_RECORDER_FILEPATH"):
            with contextlib.suppress(OSError):
                os.unlink(self.recording_path)
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
