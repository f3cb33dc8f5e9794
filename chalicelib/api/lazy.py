"""The service modules a cold start should not pay for (issue 6, cold_import_ratio): every route
and handler shares one app import, so the rarely used paths' modules are imported on the first
call that uses them. Views write ``exclusions.create_rule(...)`` as with a plain import; mypy sees
the real modules."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any


class LazyModule:
    """A module imported on its first attribute access (then a dictionary lookup in sys.modules)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        return getattr(module, attribute)


if TYPE_CHECKING:
    from chalicelib.services import (
        crm,
        email_webhooks,
        exclusions,
        flags,
        jobs,
        replies,
        sms,
        suppressions,
        unsubscribe,
    )
else:
    crm = LazyModule("chalicelib.services.crm")
    email_webhooks = LazyModule("chalicelib.services.email_webhooks")
    exclusions = LazyModule("chalicelib.services.exclusions")
    flags = LazyModule("chalicelib.services.flags")
    jobs = LazyModule("chalicelib.services.jobs")
    replies = LazyModule("chalicelib.services.replies")
    sms = LazyModule("chalicelib.services.sms")
    suppressions = LazyModule("chalicelib.services.suppressions")
    unsubscribe = LazyModule("chalicelib.services.unsubscribe")
