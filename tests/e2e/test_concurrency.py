"""Concurrency against the running local stack (R2, R6, R12, R14): many threads interleave SMS
STOP/START (Twilio webhook, with redeliveries), one-click unsubscribes, clears, manual DND and
send-checks on a few shared addresses. Afterwards, per address and channel:

- the audit alternates enabled/disabled (a no-op or a redelivery never adds an entry, no update
  is lost between a read and a write), and exactly one entry exists per change the API
  reported as accepted (``changed: true``);
- the final DND state is the one the last audit entry says (the last accepted event wins);
- no request got a 5xx.

Bounded: THREADS x OPS_PER_THREAD requests (env CONCURRENCY_THREADS / CONCURRENCY_OPS).
"""

from __future__ import annotations

import os
import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest

from chalicelib.logic.twilio_signature import compute_signature

from .conftest import LocalStack

pytestmark = pytest.mark.e2e

THREADS = int(os.environ.get("CONCURRENCY_THREADS", "8"))
OPS_PER_THREAD = int(os.environ.get("CONCURRENCY_OPS", "50"))
PHONES = ["+14155552671", "+14155552672", "+14155552673", "+14155552674"]
EMAILS = [f"conc{n}@example.com" for n in range(4)]
AUTH_TOKEN = "concurrency-twilio-token-0123456789"
EVIDENCE = "signed re-opt-in form #4711"


class Run:
    """Shared bookkeeping of what the threads were told."""

    def __init__(self, stack: LocalStack, workspace_id: str, key: str, links: dict[str, str]) -> None:
        self.stack, self.workspace_id, self.key, self.links = stack, workspace_id, key, links
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[tuple[str, int, bytes]] = []
        self.accepted: Counter[tuple[str, str, str]] = Counter()  # (address, channel, action) reported changed
        self.sids: list[str] = []

    def record(self, what: str, status: int, body: bytes) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status >= 500:
                self.server_errors.append((what, status, body[:300]))

    def twilio_sms(self, phone: str, text: str, sid: str) -> None:
        path = f"/v1/webhooks/twilio/{self.workspace_id}/sms"
        params = [
            ("MessageSid", sid),
            ("From", phone),
            ("To", "+14155550100"),
            ("Body", text),
            ("AccountSid", "AC" + "0" * 32),
        ]
        signature = compute_signature(self.stack.api_url + path, params, AUTH_TOKEN)
        response = self.stack.request(
            "POST",
            path,
            urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )
        self.record(f"sms {text}", response.status, response.body)
        assert response.status == 200, response.body

    def dnd(self, body: dict[str, Any], address: str) -> None:
        response = self.stack.request("POST", "/v1/dnd", body, key=self.key)
        self.record(f"dnd {body['action']}", response.status, response.body)
        assert response.status == 200, response.body
        if response.json()["changed"]:
            with self.lock:
                self.accepted[(address, body["channel"], body["action"])] += 1

    def unsubscribe(self, email: str) -> None:
        response = self.stack.request(
            "POST",
            self.links[email],
            b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.record("unsubscribe", response.status, response.body)
        assert response.status == 200, response.body

    def send_check(self, body: dict[str, Any]) -> None:
        response = self.stack.request("POST", "/v1/send-check", body, key=self.key)
        self.record("send-check", response.status, response.body)
        assert response.status == 200, response.body


def operation(run: Run, rng: random.Random) -> None:
    phone, email = rng.choice(PHONES), rng.choice(EMAILS)
    kind = rng.randrange(9)
    if kind in (0, 1):  # STOP / START, each a new message
        sid = "SM" + uuid.uuid4().hex
        with run.lock:
            run.sids.append(f"{phone}|{sid}|{'STOP' if kind == 0 else 'START'}")
        run.twilio_sms(phone, "STOP" if kind == 0 else "start", sid)
    elif kind == 2:  # Twilio redelivers an earlier message
        with run.lock:
            earlier = rng.choice(run.sids) if run.sids else None
        if earlier:
            earlier_phone, sid, text = earlier.split("|")
            run.twilio_sms(earlier_phone, text, sid)
    elif kind in (3, 4):  # a user sets / clears manual DND on calls to the number
        run.dnd(
            {"phone": phone, "channel": "call", "action": "enable" if kind == 3 else "disable", "source": "user"}, phone
        )
    elif kind == 5:
        run.unsubscribe(email)
    elif kind == 6:  # the person's re-opt-in, recorded by a user with evidence
        run.dnd(
            {"email": email, "channel": "email", "action": "disable", "source": "user", "evidence": EVIDENCE}, email
        )
    elif kind == 7:
        run.send_check({"phone": phone, "channel": rng.choice(["sms", "call"])})
    else:
        run.send_check({"email": email, "channel": "email"})


@pytest.fixture(scope="module")
def run(local_stack: LocalStack) -> Run:
    workspace_id = "conc-" + uuid.uuid4().hex[:8]
    response = local_stack.request(
        "POST",
        "/v1/admin/workspaces",
        {"workspace_id": workspace_id, "twilio_auth_token": AUTH_TOKEN},
        key=local_stack.admin_key,
    )
    assert response.status == 201, response.body
    key = response.json()["api_key"]
    links = {}
    for email in EMAILS:
        minted = local_stack.request("POST", "/v1/unsubscribe-links", {"email": email}, key=key)
        assert minted.status == 200, minted.body
        links[email] = urlparse(minted.json()["url"]).path
    return Run(local_stack, workspace_id, key, links)


def audit(run: Run, **query: str) -> list[dict[str, Any]]:
    response = run.stack.request("GET", "/v1/audit?" + urlencode(query), key=run.key)
    assert response.status == 200, response.body
    return response.json()["entries"]


def blocked(run: Run, body: dict[str, Any]) -> bool:
    response = run.stack.request("POST", "/v1/send-check", body, key=run.key)
    assert response.status == 200, response.body
    return any(b["type"] == "dnd" for b in response.json()["blocked_by"])


def assert_alternates(entries: list[dict[str, Any]], label: str) -> None:
    actions = [e["action"] for e in entries]
    for previous, current in zip(actions, actions[1:], strict=False):
        assert previous != current, f"{label}: two '{current}' in a row: {actions}"
    if actions:
        assert actions[0] == "enabled", f"{label}: starts with a clear of nothing: {actions}"


def test_r12_interleaved_opt_outs_and_clears_keep_the_last_accepted_event(run: Run):
    # Given THREADS workers, each sending OPS_PER_THREAD mixed requests on 4 numbers and 4 emails
    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(OPS_PER_THREAD):
            operation(run, rng)

    # When they run at once
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(worker, 1000 + n) for n in range(THREADS)]:
            future.result()
    total = sum(run.statuses.values())
    print(f"\nconcurrent requests: {total} from {THREADS} threads; statuses {dict(run.statuses)}")

    # Then no request got a 5xx
    assert not run.server_errors, run.server_errors[:5]
    assert total >= THREADS * OPS_PER_THREAD * 0.9  # redeliveries before any STOP are skipped

    seen: Counter[tuple[str, str]] = Counter()
    for phone in PHONES:
        entries = audit(run, phone=phone)
        seen.update((e["channel"], e["action"]) for e in entries)
        sms = [e for e in entries if e["channel"] == "sms"]
        call = [e for e in entries if e["channel"] == "call"]
        # And the audit alternates: one entry per accepted change, none for no-ops or redeliveries
        assert_alternates(sms, f"sms {phone}")
        assert_alternates(call, f"call {phone}")
        # And exactly one entry per change the API reported as accepted
        assert (
            Counter(e["action"] for e in call)
            == Counter(
                {
                    "enabled": run.accepted[(phone, "call", "enable")],
                    "disabled": run.accepted[(phone, "call", "disable")],
                }
            )
            - Counter()
        ), f"call {phone}"
        # And the final state is the last accepted event's
        assert blocked(run, {"phone": phone, "channel": "sms"}) == (bool(sms) and sms[-1]["action"] == "enabled")
        assert blocked(run, {"phone": phone, "channel": "call"}) == (bool(call) and call[-1]["action"] == "enabled")
    for email in EMAILS:
        entries = [e for e in audit(run, email=email) if e["channel"] == "email"]
        seen.update((e["channel"], e["action"]) for e in entries)
        assert_alternates(entries, f"email {email}")
        assert sum(1 for e in entries if e["action"] == "disabled") == run.accepted[(email, "email", "disable")]
        assert all(e["reason"] == "unsubscribed" for e in entries if e["action"] == "enabled")
        assert blocked(run, {"email": email, "channel": "email"}) == (
            bool(entries) and entries[-1]["action"] == "enabled"
        )
    # And the run really raced changes of every kind (not only no-ops)
    print(f"accepted changes in the audit: {dict(seen)}")
    assert all(seen[(c, a)] >= 3 for c in ("sms", "call", "email") for a in ("enabled", "disabled")), seen


def test_r6_the_same_message_delivered_concurrently_is_applied_once(run: Run):
    """Twilio retries can overlap: 8 simultaneous deliveries of one STOP give one audit entry."""
    phone = "+12025550143"
    sid = "SM" + uuid.uuid4().hex
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(run.twilio_sms, phone, "STOP", sid) for _ in range(THREADS)]:
            future.result()
    entries = audit(run, phone=phone)
    assert [(e["channel"], e["action"], e["reason"]) for e in entries] == [("sms", "enabled", "sms_stop")]
    assert blocked(run, {"phone": phone, "channel": "sms"})
