"""`python -m infra.local` (`make run`): the whole service on one machine.

1. an embedded AWS endpoint (moto server) on OPTOUT_AWS_PORT, in a child process of its own
   (``aws_endpoint.py``: moto, the app and the dispatcher would otherwise share one GIL);
2. the tables, queues and topics of infra/template.yaml, deployed there through CloudFormation;
3. the Chalice app, imported only after its OPTOUT_* variables point at that stack, with the
   workspace ``default`` (API key OPTOUT_DEV_API_KEY);
4. the dispatcher feeding SNS/SQS messages to the app's event handlers, as Lambda would;
5. the app's routes over HTTP on OPTOUT_HOST:OPTOUT_PORT (chalice's local server, one thread per
   connection).

Ctrl-C or SIGTERM stops everything, the endpoint last, and exits 0; the endpoint also exits when
this process dies, however it dies. State lives in memory for the life of the process.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger("infra.local")  # not under "optout": Chalice and Powertools own that one

STAGE = "local"


@dataclass(frozen=True)
class LocalSettings:
    host: str
    port: int
    aws_port: int
    public_url: str
    admin_key: str
    dev_api_key: str

    @property
    def aws_endpoint_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls) -> LocalSettings:
        host = os.environ.get("OPTOUT_HOST") or "127.0.0.1"
        port = int(os.environ.get("OPTOUT_PORT") or "8000")
        return cls(
            host=host,
            port=port,
            aws_port=int(os.environ.get("OPTOUT_AWS_PORT") or "4566"),
            public_url=(os.environ.get("OPTOUT_PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
            admin_key=os.environ.get("OPTOUT_ADMIN_KEY") or "dev-admin-key",
            dev_api_key=os.environ.get("OPTOUT_DEV_API_KEY") or "dev-key",
        )


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _aws_environment(settings: LocalSettings) -> dict[str, str]:
    # Every boto3 client in the process (the app's, Powertools') honors AWS_ENDPOINT_URL, so the app
    # runs unchanged against the embedded endpoint. Fake credentials: nothing can reach real AWS.
    return {
        "AWS_ENDPOINT_URL": settings.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "optout",
        "POWERTOOLS_SERVICE_NAME": "optout",
    }


def _banner(settings: LocalSettings, stack_env: dict[str, str]) -> str:
    from infra.local.stack import DND_EVENTS_TAP_ENV

    return "\n".join(
        [
            "",
            "optout local stack is up",
            f"  API:                 {settings.api_url}   (GET /health)",
            f"  public URL:          {settings.public_url}",
            f"  AWS endpoint:        {settings.aws_endpoint_url}   (AWS_ENDPOINT_URL; any credentials)",
            f"  admin key:           {settings.admin_key}",
            f"  workspace 'default': {settings.dev_api_key}   (Authorization: Bearer {settings.dev_api_key})",
            f"  SES topic:           {stack_env['OPTOUT_SES_TOPIC']}",
            f"  DND events topic:    {stack_env['OPTOUT_DND_TOPIC']}",
            f"  DND events tap:      {stack_env[DND_EVENTS_TAP_ENV]}",
            "  publish an SES notification: make publish-event EVENT=events/<file>.json",
            "  post a provider webhook:     make post-webhook PROVIDER=sendgrid EVENT=events/sendgrid-events.json",
            "Ctrl-C to stop.",
            "",
        ]
    )


def _api_gateway_like_handler() -> type:
    """chalice's local request handler, closer to API Gateway where it differed (found by `make fuzz`):
    a HEAD answer carries headers only (chalice wrote the body, breaking the connection), and any
    other method reaches the app's router (405) instead of http.server's 501."""
    from chalice.local import ChaliceRequestHandler

    class ApiGatewayLikeHandler(ChaliceRequestHandler):
        # Headers and body go out in separate writes: with Nagle on, a keep-alive client waits for
        # its delayed ACK (~40 ms) before the body arrives (found by `make bench`).
        disable_nagle_algorithm = True

        def _send_http_response_with_body(self, code, headers, body):  # type: ignore[no-untyped-def]
            if self.command != "HEAD":
                return super()._send_http_response_with_body(code, headers, body)
            self.send_response(code)
            self.send_header("Content-Length", str(len(body.encode() if isinstance(body, str) else body)))
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            self._send_headers(headers)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
            # The access log (one line per request, on stderr) goes through the app's own masking: the
            # /u/<token> segment and address query values (?email=, ?phone=...) never reach the log.
            from chalicelib.observability import mask_log

            super().log_message("%s", mask_log(format % args))

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            if name.startswith("do_"):  # TRACE, QUERY, ...: the app's router answers 405
                return self._generic_handle
            raise AttributeError(name)

    return ApiGatewayLikeHandler


def _per_thread_request_state(app: object) -> None:
    """``Chalice.__call__`` keeps ``current_request`` and ``lambda_context`` on the app object: fine in
    Lambda (one request per instance at a time), but the local server runs one thread per connection,
    so concurrent requests could read each other's request (a form post parsed as another's JSON).
    Make both per thread, for this process only."""
    state = threading.local()

    def attribute(name: str) -> property:
        return property(lambda self: getattr(state, name, None), lambda self, value: setattr(state, name, value))

    app.__class__ = type(  # a subclass: data descriptors win over the instance attributes chalice set
        "PerThreadRequestChalice",
        (type(app),),
        {"current_request": attribute("current_request"), "lambda_context": attribute("lambda_context")},
    )


def main() -> int:
    logging.basicConfig(
        level=logging.DEBUG if os.environ.get("OPTOUT_LOCAL_DEBUG") else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's per-request access log
    logging.getLogger("botocore").setLevel(logging.WARNING)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    settings = LocalSettings.from_env()
    for name, port in (("OPTOUT_PORT", settings.port), ("OPTOUT_AWS_PORT", settings.aws_port)):
        if not _port_is_free(settings.host, port):
            print(f"optout: {settings.host}:{port} ({name}) is already in use", file=sys.stderr)
            return 1

    from infra.local.aws_endpoint import AwsEndpoint

    started = time.monotonic()
    endpoint = AwsEndpoint(settings.host, settings.aws_port).start()
    try:
        # While the endpoint imports moto: what the stack deploy and the HTTP server need (not the app,
        # which must see the variables of the deployed stack).
        import boto3  # noqa: F401
        import chalice.local  # noqa: F401

        import infra.local.stack  # noqa: F401

        endpoint.wait_ready()
    except RuntimeError as error:
        print(f"optout: {error}", file=sys.stderr)
        return 1
    logger.debug("AWS endpoint (pid %s) up after %.2fs", endpoint.pid, time.monotonic() - started)
    code = 0
    dispatcher = None
    http_server = None
    http_thread = None
    try:
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(_aws_environment(settings))

        from infra.local.stack import deploy_stack

        stack_env = deploy_stack(stage=STAGE, endpoint_url=settings.aws_endpoint_url)
        os.environ.update(stack_env)
        os.environ.update(
            OPTOUT_PUBLIC_URL=settings.public_url,
            OPTOUT_ADMIN_KEY=settings.admin_key,
            OPTOUT_DEV_API_KEY=settings.dev_api_key,
        )

        from chalicelib.config import reset_config

        reset_config()

        # Only now: the app (and its cached config) must see the variables above.
        import app as app_module
        from chalicelib.bootstrap import ensure_workspace

        ensure_workspace("default", api_key=settings.dev_api_key)
        from infra.local.webhooks import configure_workspace

        configure_workspace("default")  # development webhook secrets: `make post-webhook` signs with them

        from infra.local.dispatcher import Dispatcher

        # Four pollers a queue (Lambda runs many invocations at once): with two, a bulk unenrollment
        # alternated between the app's and the endpoint's process and left the endpoint idle half the time.
        dispatcher = Dispatcher(app_module, endpoint_url=settings.aws_endpoint_url, workers_per_source=4).start()

        from chalice.config import Config as ChaliceConfig
        from chalice.local import LocalDevServer

        chalice_config = ChaliceConfig.create(
            chalice_stage=STAGE, app_name="optout", lambda_timeout=60, lambda_memory_size=512
        )
        # Same server as `chalice local`: a ThreadingMixIn HTTPServer, one thread per connection.
        _per_thread_request_state(app_module.app)
        http_server = LocalDevServer(
            app_module.app, chalice_config, settings.host, settings.port, handler_cls=_api_gateway_like_handler()
        )
        http_thread = threading.Thread(target=http_server.server.serve_forever, name="http", daemon=True)
        http_thread.start()

        print(_banner(settings, stack_env), flush=True)
        logger.info("ready in %.1fs", time.monotonic() - started)
        while not stop.wait(0.5):
            if not endpoint.alive():
                logger.error("the embedded AWS endpoint exited (code %s); stopping", endpoint.exit_code)
                code = 1
                break
        logger.info("stopping")
    finally:
        stopping = time.monotonic()
        if http_server is not None:
            http_server.shutdown()
            http_server.server.server_close()
        if http_thread is not None:
            http_thread.join(5)
        logger.debug("http stopped after %.2fs", time.monotonic() - stopping)
        if dispatcher is not None:
            dispatcher.stop()
        logger.debug("dispatcher stopped after %.2fs", time.monotonic() - stopping)
        endpoint.stop()
        logger.info("stopped in %.1fs", time.monotonic() - stopping)
    return code


if __name__ == "__main__":
    sys.exit(main())
