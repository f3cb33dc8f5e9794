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
- ``one_sns_signing_cert``: SNS signs deliveries with one certificate per subscription, made once.
- ``size_items_once``: a DynamoDB item's size is summed once when it is built, not once per attribute.
- ``narrow_queries``: a DynamoDB Query sorts the items of its partition, not the whole table.
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
    one_sns_signing_cert()
    size_items_once()
    narrow_queries()


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


def one_sns_signing_cert() -> None:
    """SNS deliveries to SQS/HTTP signed with one certificate per subscription (idempotent).

    moto's ``Subscription.get_post_data`` builds and signs a fresh X.509 certificate for every
    message it delivers (an RSA signature, a random serial) and keeps each certificate's PEM for
    ever: ~1 ms of CPU per DND event sent to the local ``dnd-events`` tap, and memory growing with
    every message. AWS signs with one long-lived certificate; so does this: the certificate for the
    subscription's key is made on its first delivery and reused (its PEM stored again if moto's
    state was reset). Each message is still signed with that key (SignatureVersion 2, SHA256 over
    the same string moto signs), and ``SigningCertURL`` still serves the certificate that verifies
    it (contract test)."""
    from moto.sns import models

    if getattr(models.Subscription.get_post_data, "_optout_one_cert", False):
        return
    original = models.Subscription.get_post_data

    # moto's own names (its module's imports), so the certificate and signature are made as moto makes them
    m = models

    def signing_cert(self: Any, region: str) -> str:
        """The name under which moto serves the subscription's certificate (made on first use)."""
        made = getattr(self, "_optout_signing_cert", None)
        if made is None:
            key = self.private_key()
            issuer = [
                m.NameAttribute(m.NameOID.COUNTRY_NAME, "US"),
                m.NameAttribute(m.NameOID.ORGANIZATION_NAME, "Amazon"),
                m.NameAttribute(m.NameOID.COMMON_NAME, "Amazon RSA 2048 M01"),
            ]
            cert = (
                m.cryptography.x509.CertificateBuilder()
                .subject_name(m.Name([m.NameAttribute(m.NameOID.COMMON_NAME, "sns.amazonaws.com")]))
                .issuer_name(m.Name(issuer))
                .public_key(key.public_key())
                .serial_number(m.cryptography.x509.random_serial_number())
                .not_valid_before(m.utcnow())
                .not_valid_after(m.utcnow() + m.timedelta(days=365))
                .sign(key, m.hashes.SHA256())
            )
            name = f"SimpleNotificationService-{str(m.mock_random.uuid4()).replace('-', '')}.pem"
            made = self._optout_signing_cert = (name, cert.public_bytes(m.serialization.Encoding.PEM))
        name, pem = made
        served = m.sns_backends[m.DEFAULT_ACCOUNT_ID][region]._message_public_keys
        if name not in served:  # first use, or moto's state was reset since
            served[name] = pem
        return name  # type: ignore[no-any-return]

    def get_post_data(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        region = self.topic.sns_backend.region_name
        key_name = signing_cert(self, region)
        timestamp = m.iso_8601_datetime_with_milliseconds()
        # the string moto signs (SignatureVersion "2": SHA256)
        string_to_sign = (
            f"Message\n{message}\nMessageId\n{message_id}\nTimestamp\n{timestamp}\n"
            f"TopicArn\n{self.topic.arn}\nType\nNotification\n"
        )
        signature = self.private_key().sign(string_to_sign.encode("UTF-8"), m.padding.PKCS1v15(), m.hashes.SHA256())
        post_data: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.topic.arn,
            "Message": message,
            "Timestamp": timestamp,
            "SignatureVersion": "2",
            "Signature": m.base64.b64encode(signature).decode("utf-8"),
            "SigningCertURL": f"https://sns.{region}.amazonaws.com/{key_name}",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:"
            f"us-east-1:{self.account_id}:{self.topic.name}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        }
        if subject:
            post_data["Subject"] = subject
        if message_attributes:
            post_data["MessageAttributes"] = message_attributes
        return post_data

    get_post_data._optout_one_cert = True  # type: ignore[attr-defined]
    get_post_data.unpatched = original  # type: ignore[attr-defined]
    models.Subscription.get_post_data = get_post_data  # type: ignore[method-assign]


def size_items_once() -> None:
    """A DynamoDB item built by moto is sized once, not once per attribute (idempotent).

    moto's ``Item.__init__`` stores each attribute through ``LimitedSizeDict.__setitem__``, which
    re-sums the size of every attribute already stored to enforce the 400 KB item limit: O(n²) in
    the item's attributes, the largest single cost of a PutItem/BatchWriteItem on the local stack.
    Here the attributes are converted, their total is summed once, and the same ``ItemSizeTooLarge``
    is raised when it is over moto's limit (sizes are never negative: the running total moto checks
    goes over the limit exactly when the final total does). Later writes to an item's attributes
    (UpdateItem) keep moto's per-key check."""
    from moto.dynamodb.models import dynamo_type

    if getattr(dynamo_type.Item.__init__, "_optout_sized_once", False):
        return
    original = dynamo_type.Item.__init__
    DynamoType, bytesize = dynamo_type.DynamoType, dynamo_type.bytesize

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        converted = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in converted.items()) > ITEM_SIZE_LIMIT:
            raise dynamo_type.ItemSizeTooLarge
        self.attrs = dynamo_type.LimitedSizeDict()
        dict.update(self.attrs, converted)

    __init__._optout_sized_once = True  # type: ignore[attr-defined]
    __init__.unpatched = original  # type: ignore[attr-defined]
    dynamo_type.Item.__init__ = __init__  # type: ignore[method-assign]


def narrow_queries() -> None:
    """A DynamoDB Query sorts the items that can match it, not the whole table (idempotent).

    moto's ``Table.query`` starts from ``all_items()``: every item of the table, sorted by primary
    key (Python comparisons of ``DynamoType``), and only then keeps the queried partition. Each Query
    was O(table size · log) -- on the local stack the outbox sweeper's 32 Queries a minute of the
    DND table's sparse ``pending_outbox`` index grew with every imported row, and held the DynamoDB
    lock for seconds at 100,000 rows. Here, while a Query runs, ``all_items()`` of its table answers
    only the candidates -- the items of the queried partition (table) or the items whose index hash
    key attributes equal the queried values (index) -- in the same sorted order: moto then applies
    every one of its own checks, sort and pagination to them, so the answer is the same (contract
    test; a superset of what moto keeps, never fewer)."""
    from moto.dynamodb.models import table as table_module

    Table = table_module.Table
    if getattr(Table.query, "_optout_narrowed", False):
        return
    original_query, original_all_items = Table.query, Table.all_items
    narrowed = threading.local()

    def candidates(self: Any, hash_key: Any, index_name: Any, hash_key_conditions: Any) -> list[Any] | None:
        if index_name:
            if not hash_key_conditions:
                return None  # moto's loop would keep every item: nothing to narrow
            found = []
            for hash_set in self.items.values():
                for item in hash_set.values() if self.range_key_attr else (hash_set,):
                    attrs = getattr(item, "attrs", None)
                    if attrs is None:
                        found.append(item)  # not an Item: moto decides
                        continue
                    for name, expected in hash_key_conditions:
                        value = attrs.get(name)
                        if not value or value != expected:  # moto's own test
                            break
                    else:
                        found.append(item)
            return found
        if hash_key is None:
            return None
        partition = self.items.get(hash_key)
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]

    def all_items(self: Any) -> list[Any]:
        chosen = getattr(narrowed, "items", None)
        if chosen is None or chosen[0] is not self:
            return original_all_items(self)  # type: ignore[no-any-return]
        narrowed.items = None  # one call per Query
        return sorted(chosen[1], key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        found = candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if found is None:
            return original_query(self, hash_key, *args, **kwargs)
        narrowed.items = (self, found)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            narrowed.items = None

    query._optout_narrowed = True  # type: ignore[attr-defined]
    query.unpatched = (original_query, original_all_items)  # type: ignore[attr-defined]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


# moto's item size limit (``LimitedSizeDict.__setitem__``: between DynamoDB's observed 409 and 410 KB)
ITEM_SIZE_LIMIT = 405000


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
