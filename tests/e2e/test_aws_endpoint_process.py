"""The embedded AWS endpoint runs in a child process of `python -m infra.local` (infra/local/aws_endpoint.py):
it never outlives the stack, however the stack stops, and it answers on keep-alive connections."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from .conftest import free_port, start_local_stack

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(child) for child in task.read_text().split())
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its new parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def endpoint_pid(stack_pid: int) -> int:
    (pid,) = [c for c in children(stack_pid) if "infra.local.aws_endpoint" in Path(f"/proc/{c}/cmdline").read_text()]
    return pid


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")


@needs_proc
def test_sigterm_stops_the_aws_endpoint_process_too(tmp_path):
    # Given a local stack whose AWS endpoint runs in a child process
    stack = start_local_stack(tmp_path)
    child = endpoint_pid(stack.process.pid)
    assert running(child)

    # When the stack receives SIGTERM
    code = stack.terminate()

    # Then it exits 0 and the endpoint process is gone with it
    assert code == 0, stack.output()[-4000:]
    assert wait_gone(child, timeout=2), "the AWS endpoint process outlived the stack"


@needs_proc
def test_aws_endpoint_exits_when_the_stack_is_killed(tmp_path):
    # Given a local stack whose AWS endpoint runs in a child process
    stack = start_local_stack(tmp_path)
    child = endpoint_pid(stack.process.pid)
    aws_port = int(stack.env["OPTOUT_AWS_PORT"])

    # When the stack is killed outright (no chance to stop its child)
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait(10)

    # Then the endpoint notices (its lifeline pipe closes), exits and frees its port
    try:
        assert wait_gone(child), "the AWS endpoint process survived its parent's SIGKILL"
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", aws_port))


def test_aws_endpoint_answers_on_a_keep_alive_connection():
    # Given the endpoint's server (moto behind the keep-alive handler) on a free port
    from infra.local.aws_endpoint import make_server

    server = make_server("127.0.0.1", free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        }
        # When a client sends two AWS calls on one connection
        answers = []
        for _ in range(2):
            connection.request("POST", "/", body=b"{}", headers=headers)
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read()), response.getheader("Connection")))
            # Then the server keeps the connection open (http.client drops its socket on "close")
            assert connection.sock is not None, "the endpoint closed the connection after one answer"
        assert answers == [(200, {"TableNames": []}, None)] * 2
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
