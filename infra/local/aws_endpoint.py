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

DynamoDB requests are served one at a time (``serialize_dynamodb_requests``), as before in the one
process: the guarantee lives where moto runs. So does the transaction patch (``prepare_moto``).
"""

from __future__ import annotations

import contextlib
import io
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


def serialize_dynamodb_requests() -> None:
    """DynamoDB requests one at a time on the embedded endpoint (found by tests/e2e/test_concurrency.py).

    moto applies a TransactWriteItems as check-then-write, and rolls a failed one back by restoring
    a copy of the whole table taken when it started -- without a lock. On the threaded moto server,
    two concurrent transactions could both pass a condition (the exactly-once marker, a version
    check), and one's rollback could undo the other's committed write. DynamoDB serializes
    conflicting transactions; the local stack must too, or it loses the very updates the app's
    conditional writes protect. Every DynamoDB action of this process goes through ``call_action``.
    """
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "serialized", False):
        return
    lock = threading.RLock()
    call_action = DynamoHandler.call_action

    def serialized_call_action(self):  # type: ignore[no-untyped-def]
        with lock:
            return call_action(self)

    serialized_call_action.serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = serialized_call_action  # type: ignore[method-assign]


def cache_moto_request_lookups() -> None:
    """Two lookups moto repeats on every request, whose answers cannot change while it runs: the
    folders of its own package (``os.listdir`` + ~60 ``isdir`` calls, to route a request) and the
    method names of a response class (``inspect.getmembers``). Together ~1.5 ms of CPU per AWS call,
    more than a small DynamoDB read itself (found profiling the local stack)."""
    import functools

    import moto.backends
    import moto.core.responses

    listed = getattr(moto.backends, "list_of_moto_modules", None)
    if listed is not None and not hasattr(listed, "cache_info"):
        modules = functools.lru_cache(maxsize=1)(lambda: tuple(listed()))
        cached_modules = functools.wraps(listed)(lambda: modules())
        cached_modules.cache_info = modules.cache_info  # type: ignore[attr-defined]
        moto.backends.list_of_moto_modules = cached_modules
    names_of = getattr(moto.core.responses, "method_names_from_class", None)
    if names_of is not None and not hasattr(names_of, "cache_info"):
        names = functools.lru_cache(maxsize=None)(lambda clazz: tuple(names_of(clazz)))
        cached_names = functools.wraps(names_of)(lambda clazz: list(names(clazz)))
        cached_names.cache_info = names.cache_info  # type: ignore[attr-defined]
        moto.core.responses.method_names_from_class = cached_names


def cheap_sqs_sends() -> None:
    """moto's SendMessage without counting the queue's messages (idempotent).

    moto reads ``queue.attributes`` on every send only for ``ContentBasedDeduplication``; that
    property also computes ``ApproximateNumberOfMessages*`` by walking every message, so each send
    was O(queue length) and a queue nobody drains (the local ``dnd-events`` tap, which receives
    every DND event) made sends quadratic: 100,000 imported suppressions would have taken hours.
    While a send runs, the property answers just the deduplication setting, as AWS would."""
    from moto.sqs import models

    if getattr(models.SQSBackend.send_message, "_optout_cheap", False):
        return
    original_send = models.SQSBackend.send_message
    original_attributes = models.Queue.attributes
    sending = threading.local()

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(sending, "active", False):
            if not self.fifo_queue:
                return {}
            return {"ContentBasedDeduplication": getattr(self, "content_based_deduplication", "false")}
        return original_attributes.fget(self)  # type: ignore[no-any-return,attr-defined]

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            sending.active = False

    send_message._optout_cheap = True  # type: ignore[attr-defined]
    models.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    models.SQSBackend.send_message = send_message  # type: ignore[method-assign]


def prepare_moto() -> None:
    """moto as the embedded endpoint runs it: the alarm warning quiet, DynamoDB requests serialized,
    its per-request lookups cached, TransactWriteItems without whole-table copies
    (infra/moto_transactions.py: moto copied every touched table per transaction, O(table)), and
    SendMessage without walking the queue (``cheap_sqs_sends``)."""
    from infra import moto_transactions

    quiet_moto_alarm_warning()
    serialize_dynamodb_requests()
    cache_moto_request_lookups()
    moto_transactions.install()
    cheap_sqs_sends()


def make_server(host: str, port: int) -> Any:
    """moto's WSGI app on a threaded werkzeug server (what ``ThreadedMotoServer`` runs), binding now."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server as make_wsgi_server

    return make_wsgi_server(
        host, port, DomainDispatcherApplication(create_backend_app), True, request_handler=keep_alive_handler()
    )


def keep_alive_handler() -> type:
    """moto's request handler, answering on keep-alive connections.

    werkzeug's dev server closes every connection after one answer, and then waits up to 10 ms for
    stray request bytes before closing: every AWS call of the app paid a new TCP connection, a new
    server thread and that wait (found profiling the unenroll drain). Here the request body is read
    whole by its Content-Length before the app runs, so the next request line is never mistaken for
    body bytes, and each answer goes out with its Content-Length in one write. A chunked request,
    HTTP/1.0 or ``Connection: close`` still get werkzeug's own path.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveMotoRequestHandler(MotoRequestHandler):
        disable_nagle_algorithm = True  # one write per answer; no waiting for the client's delayed ACK

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # one access-log line per AWS call

        def run_wsgi(self) -> None:
            headers = self.headers
            if (
                self.close_connection
                or self.request_version != "HTTP/1.1"
                or "chunked" in headers.get("Transfer-Encoding", "").lower()
                or headers.get("Expect", "").lower().strip(" \t") == "100-continue"
            ):
                super().run_wsgi()
                self.close_connection = True
                return
            try:
                length = int(headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self.send_error(400, "Bad Content-Length")
                return
            body = self.rfile.read(length) if length else b""
            if len(body) != length:  # the client went away mid-body
                self.close_connection = True
                return
            environ = self.make_environ()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["wsgi.input_terminated"] = True
            started: list[Any] = []

            def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                started[:] = [status, response_headers]
                return lambda data: chunks.append(data)

            chunks: list[bytes] = []
            try:
                result = self.server.app(environ, start_response)
                try:
                    chunks.extend(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
            except Exception:
                logger.exception("the embedded AWS endpoint failed on %s %s", self.command, self.path)
                self.close_connection = True
                started[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
                chunks = [b"internal error"]
            status, response_headers = started
            code_text, _, reason = status.partition(" ")
            code = int(code_text)
            payload = b"" if self.command == "HEAD" or 100 <= code < 200 or code in (204, 304) else b"".join(chunks)
            self.send_response(code, reason)
            for name, value in response_headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            if self.command == "HEAD":
                content_length = next((v for n, v in response_headers if n.lower() == "content-length"), None)
                if content_length is not None:
                    self.send_header("Content-Length", content_length)
            elif code >= 200 and code not in (204, 304):
                self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self._headers_buffer.append(b"\r\n")  # end of headers, then the body: one write
            self._headers_buffer.append(payload)
            self.flush_headers()

    return KeepAliveMotoRequestHandler


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
