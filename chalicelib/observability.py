"""One shared Logger, Metrics and Tracer (Powertools), and the per-invocation plumbing around them.

- Logs are JSON with a correlation id (the API Gateway request id, else the Lambda request id) and
  the Lambda context; they never carry addresses: the code logs ids, codes and counts only, and as a
  second line of defence every formatted line is passed through ``mask_log`` (emails, phones, and in
  URLs the unsubscribe token and address parameters; the local stack's access log uses it too).
- Metrics (CloudWatch EMF) go through Powertools ``Metrics``: a metric without dimensions of its own
  (``Unenrollments``, the ``FlagsPastDue`` gauge) is added to the shared ``metrics`` and written once
  per invocation by ``log_metrics`` around the handler (the middleware); a metric with dimensions
  (``OptOuts{source,channel}``, ``SendCheckVerdicts{verdict}``, ``DeadLettered{queue}``) is one
  ``single_metric`` document, written when it happens, as Powertools prescribes for a dimension set
  of its own. Namespace and service come from ``chalicelib.config.runtime()``.
- The Tracer (X-Ray) is created lazily, only inside Lambda with tracing on: importing the X-Ray SDK
  costs ~200 ms, which neither the local stack nor the tests pay (POWERTOOLS_TRACE_DISABLED=true).

``install(app)`` registers the middleware once, from app.py.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from chalicelib.config import runtime

SERVICE = runtime().service

_EMAIL_RE = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+")
_PHONE_RE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
# For whole log lines: timestamps and ids must survive, so only phone shapes that are not dates.
_LOG_PHONE_RE = re.compile(r"\+\d[\d\s().-]{6,}\d|\(\d{3}\)\s*\d{3}[-.\s]\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b")


# URLs in log lines (request lines of an access log, paths in messages and tracebacks): a path from
# its first "/" up to whitespace, a quote or an angle bracket.
_URL_RE = re.compile(r"/[^\s\"'<>]*")
# Query parameters whose values are addresses, whatever they look like.
_ADDRESS_PARAMS = frozenset({"email", "phone", "address", "recipient", "to", "from", "mobile", "number"})
_ADDRESS_VALUE_RE = re.compile(r"[^@\s]+@[^@\s]+|\+\d[\d\s().-]{6,}\d|\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}")


def mask(text: str) -> str:
    return _PHONE_RE.sub("<phone>", _EMAIL_RE.sub("<email>", text))


def _looks_like_address(value: str) -> bool:
    return bool(_ADDRESS_VALUE_RE.fullmatch(value.strip()))


def mask_url(target: str) -> str:
    """A request target without addresses or tokens: the ``/u/<token>`` segment, query values of
    address parameters (``email``, ``phone``, ...) and any path segment or query value that decodes to
    an email address or phone number are replaced; the rest (route, ids, other parameters) is kept."""
    from urllib.parse import unquote_plus

    path, question, query = target.partition("?")
    query, hash_sign, fragment = query.partition("#")
    segments = path.split("/")
    for n, segment in enumerate(segments):
        if n > 0 and segments[n - 1] == "u" and segment:
            segments[n] = "<token>"  # /u/<token>: the unsubscribe link's bearer secret
        elif segment and _looks_like_address(unquote_plus(segment)):
            segments[n] = "<address>"
    masked = "/".join(segments)
    if question:
        pairs = []
        for pair in query.split("&"):
            name, equals, value = pair.partition("=")
            decoded = unquote_plus(value)
            if equals and value and (unquote_plus(name).lower() in _ADDRESS_PARAMS or _looks_like_address(decoded)):
                value = "<address>"
            pairs.append(name + equals + value)
        masked += "?" + "&".join(pairs)
    return masked + hash_sign + fragment


def mask_log(text: str) -> str:
    """Mask emails and phone-shaped text in a formatted log line, keeping dates and ids intact; URLs in
    it lose their tokens and address parameters (``mask_url``)."""
    text = _URL_RE.sub(lambda match: mask_url(match.group(0)), text)
    return _LOG_PHONE_RE.sub("<phone>", _EMAIL_RE.sub("<email>", text))


class _MaskingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_log(super().format(record))


class _MaskingFilter(logging.Filter):
    """For handlers we do not format (the Lambda runtime's root handler): mask message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_log(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_log(logging.Formatter().formatException(record.exc_info))
        return True


logger = Logger(service=SERVICE, logger_formatter=_MaskingFormatter())
# Modules log through child loggers of this one (``Logger(service=SERVICE, child=True)``, named
# ``optout.<module>``): their lines go through its handler, so they carry its correlation id and keys.


class _EmfProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider whose per-invocation flush never fails the invocation it ends."""

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not self.metric_set and not raise_on_empty_metrics:
            return  # most invocations count nothing of their own: not worth Powertools' warning each
        try:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)
        except Exception:  # a metrics failure must not turn a stored opt-out into an error
            logger.warning("metrics flush failed", exc_info=True)


metrics = Metrics(provider=_EmfProvider(namespace=runtime().metrics_namespace, service=SERVICE))


# ----------------------------------------------------------------------------------------------
# Metrics


def count(name: str, value: int = 1, **dimensions: str) -> None:
    """Add to a Count metric; with dimensions (keep their values to small closed sets) it is a
    document of its own, written now."""
    if not value:
        return
    if not dimensions:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    try:
        with single_metric(
            name=name,
            unit=MetricUnit.Count,
            value=value,
            namespace=metrics.namespace,
            default_dimensions={"service": SERVICE, **dimensions},
        ):
            pass
    except Exception:  # a metrics failure must not turn a stored opt-out into an error
        logger.warning("metric %s not written", name, exc_info=True)


def record_send_check(results: Iterable[dict[str, Any]]) -> None:
    """Send-check verdicts by outcome (allowed / blocked / error): one document per outcome and call."""
    verdicts = Counter(
        "error" if result.get("error") else "allowed" if result.get("allowed") else "blocked" for result in results
    )
    for verdict, checks in sorted(verdicts.items()):
        count("SendCheckVerdicts", checks, verdict=verdict)


def gauge(name: str, value: float) -> None:
    """A level (not a count) measured this invocation, written even when 0 so an alarm sees data; the
    last value of the invocation is the one written."""
    metrics.provider.metric_set.pop(name, None)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_dnd_change(audit_entries: Iterable[dict[str, Any]]) -> None:
    """Opt-outs (DND set) and opt-out clears, by source and channel, for a committed change."""
    changes: Counter[tuple[str, str, str]] = Counter()
    for entry in audit_entries:
        action = entry.get("action")  # audit actions: enabled | disabled | flagged
        if action in ("enabled", "disabled"):
            name = "OptOuts" if action == "enabled" else "OptOutsCleared"
            changes[(name, str(entry.get("source")), str(entry.get("channel")))] += 1
    for (name, source, channel), changed in sorted(changes.items()):
        count(name, changed, source=source, channel=channel)


def record_unenrollments(enrollments: int) -> None:
    """Enrollments ended by bulk unenrollment (throughput)."""
    count("Unenrollments", enrollments)


def record_dead_lettered(queue: str, messages: int = 1) -> None:
    """Messages given up on (their next stop is the queue's DLQ)."""
    count("DeadLettered", messages, queue=queue)


def flush_metrics() -> None:
    """Write the invocation's pending metrics now (``log_metrics`` does it at the end of each
    invocation; scripts and tests call this)."""
    metrics.flush_metrics()


# ----------------------------------------------------------------------------------------------
# Tracer: lazy, Lambda only.

_tracer: Any = None
_tracer_resolved = False


def get_tracer() -> Any:
    """The Powertools Tracer inside Lambda with tracing on, else None (no X-Ray SDK import)."""
    global _tracer, _tracer_resolved
    if not _tracer_resolved:
        _tracer_resolved = True
        if not runtime().trace_disabled and runtime().in_lambda:
            try:
                from aws_lambda_powertools import Tracer

                _tracer = Tracer(service=SERVICE)  # patches botocore: every AWS call is a subsegment
            except Exception:  # tracing must never stop the service
                logger.warning("tracing unavailable", exc_info=True)
    return _tracer


def _traced(name: str, call: Callable[[], Any]) -> Any:
    tracer = get_tracer()
    if tracer is None:
        return call()
    with tracer.provider.in_subsegment(f"## {name}") as subsegment:
        subsegment.put_annotation("handler", name)
        return call()


# ----------------------------------------------------------------------------------------------
# Middleware: correlation ids, Lambda context, one metrics flush per invocation (log_metrics).

_cold_start = True
_INVOCATION_KEYS = ["cold_start", "function_request_id", "function_name", "route", "http_method"]


def _begin(correlation_id: str | None, lambda_context: Any, **keys: Any) -> None:
    global _cold_start
    request_id = getattr(lambda_context, "aws_request_id", None)
    logger.set_correlation_id(correlation_id or request_id or uuid.uuid4().hex)
    logger.append_keys(
        cold_start=_cold_start,
        function_request_id=request_id,
        function_name=getattr(lambda_context, "function_name", None),
        **keys,
    )
    _cold_start = False


def _end() -> None:
    logger.remove_keys(_INVOCATION_KEYS)
    logger.set_correlation_id(None)


def _invoke(name: str, get_response: Callable[[Any], Any], event: Any, lambda_context: Any) -> Any:
    """The handler, traced, with this invocation's metrics written when it ends (also on failure)."""

    @metrics.log_metrics
    def handler(event: Any, lambda_context: Any) -> Any:
        return _traced(name, lambda: get_response(event))

    return handler(event, lambda_context)


def http_middleware(request: Any, get_response: Callable[[Any], Any]) -> Any:
    context = request.context or {}
    route = context.get("resourcePath") or request.path
    _begin(context.get("requestId"), request.lambda_context, route=route, http_method=request.method)
    try:
        response = _invoke(f"{request.method} {route}", get_response, request, request.lambda_context)
        logger.debug("request handled", extra={"status": getattr(response, "status_code", None)})
        return response
    finally:
        _end()


def event_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    context = getattr(event, "context", None)
    _begin(None, context)
    try:
        return _invoke(getattr(context, "function_name", None) or type(event).__name__, get_response, event, context)
    finally:
        _end()


def install(app: Any) -> None:
    """Register the middleware on the Chalice app (once, from app.py)."""
    app.register_middleware(http_middleware, "http")
    for event_type in ("sns", "sqs", "scheduled"):
        app.register_middleware(event_middleware, event_type)
    if runtime().in_lambda:
        for handler in logging.getLogger().handlers:  # the Lambda runtime's handler (std-logging modules)
            if not any(isinstance(f, _MaskingFilter) for f in handler.filters):
                handler.addFilter(_MaskingFilter())
