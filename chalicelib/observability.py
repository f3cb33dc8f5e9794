"""One shared Logger and Metrics (Powertools). Logs never carry addresses: the code logs
ids, codes and counts only, and ``mask`` is there for anything address-shaped."""

from __future__ import annotations

import re

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="optout")
metrics = Metrics(namespace="optout", service="optout")

_EMAIL_RE = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+")
_PHONE_RE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def mask(text: str) -> str:
    return _PHONE_RE.sub("<phone>", _EMAIL_RE.sub("<email>", text))
