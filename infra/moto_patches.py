"""Every patch of moto's and werkzeug's internals, applied in one place, for the versions they were
written for (local stack, integration and e2e suites, in-process bench; never in Lambda).

Each patch replaces a private function or method of one exact moto (or werkzeug) release: on
another release it may silently stop doing its job or break moto. So ``apply()`` first checks the
installed versions against ``WRITTEN_FOR`` and refuses to run on any other (``PatchedVersionMismatch``)
-- upgrading moto means re-reading each patch against the new source, running its contract test in
tests/integration/test_moto_patches.py (each fails if its patch stops doing its job), and then
bumping ``WRITTEN_FOR``.

The patches (``apply()`` installs the moto ones; each is idempotent):

- ``serialize_dynamodb_requests``: DynamoDB requests one at a time (moto's transactions are not
  isolated; on the threaded server two could interleave and a rollback undo another's write).
- ``infra.moto_transactions``: TransactWriteItems all-or-nothing without copying whole tables.
- ``cache_moto_request_lookups``: two lookups moto repeats on every request, cached.
- ``cheap_sqs_sends``: SendMessage without walking the queue's messages.
- ``keep_alive_handler`` (werkzeug): the embedded endpoint answers on keep-alive connections
  (used by ``infra.local.aws_endpoint.make_server``; contract: tests/e2e/test_aws_endpoint_process.py).
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from importlib.metadata import version
from typing import Any

logger = logging.getLogger("infra.local.aws")

# The releases these patches were written and contract-tested against (pyproject.toml pins moto).
WRITTEN_FOR = {"moto": "5.2.5", "werkzeug": "3.1.8"}


class PatchedVersionMismatch(RuntimeError):
    """moto or werkzeug is not the release the patches were written for."""


def installed_version(package: str) -> str:
    return version(package)


def check_versions(*packages: str) -> None:
    """Fail loudly unless each of ``packages`` (default: all) is the release ``WRITTEN_FOR`` names."""
    wrong = {
        package: installed_version(package)
        for package in packages or tuple(WRITTEN_FOR)
        if installed_version(package) != WRITTEN_FOR[package]
    }
    if wrong:
        found = ", ".join(
            f"{package} {release} (written for {WRITTEN_FOR[package]})" for package, release in wrong.items()
        )
        raise PatchedVersionMismatch(
            f"infra/moto_patches.py patches internals of another release: {found}. Re-check each patch against "
            "the new source, run tests/integration/test_moto_patches.py, then update WRITTEN_FOR."
        )


def apply() -> None:
    """The moto patches, after the version check (idempotent)."""
    from infra import moto_transactions

    check_versions("moto")
    serialize_dynamodb_requests()
    cache_moto_request_lookups()
    moto_transactions.install()
    cheap_sqs_sends()


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
    serialized_call_action.unpatched = call_action  # type: ignore[attr-defined]
    DynamoHandler.call_action = serialized_call_action  # type: ignore[method-assign]


def cache_moto_request_lookups() -> None:
    """Two lookups moto repeats on every request, whose answers cannot change while it runs: the
    folders of its own package (``os.listdir`` + ~60 ``isdir`` calls, to route a request) and the
    method names of a response class (``inspect.getmembers``). Together ~1.5 ms of CPU per AWS call,
    more than a small DynamoDB read itself (found profiling the local stack)."""
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
    While a send runs, the property answers just the deduplication setting, as AWS would (as the
    string moto compares: a bool here once turned FIFO content deduplication off; contract test)."""
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
            deduplicate = getattr(self, "content_based_deduplication", False)  # a bool; moto compares "true"
            return {"ContentBasedDeduplication": str(deduplicate).lower()}
        return original_attributes.fget(self)  # type: ignore[no-any-return,attr-defined]

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return original_send(self, *args, **kwargs)
        finally:
            sending.active = False

    send_message._optout_cheap = True  # type: ignore[attr-defined]
    send_message.unpatched = (original_send, original_attributes)  # type: ignore[attr-defined]
    models.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    models.SQSBackend.send_message = send_message  # type: ignore[method-assign]


def keep_alive_handler() -> type:
    """moto's request handler, answering on keep-alive connections (werkzeug internals: checked).

    werkzeug's dev server closes every connection after one answer, and then waits up to 10 ms for
    stray request bytes before closing: every AWS call of the app paid a new TCP connection, a new
    server thread and that wait (found profiling the unenroll drain). Here the request body is read
    whole by its Content-Length before the app runs, so the next request line is never mistaken for
    body bytes, and each answer goes out with its Content-Length in one write. A chunked request,
    HTTP/1.0 or ``Connection: close`` still get werkzeug's own path.
    """
    check_versions("werkzeug", "moto")
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
