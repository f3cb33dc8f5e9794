"""The Amazon SES suppression list (SESv2 ``PutSuppressedDestination`` / ``DeleteSuppressedDestination``):
the account-level list, or a tenant's when a tenant name is given.

Built by ``get_services()`` only when ``OPTOUT_SES_SUPPRESSION`` is on; the follow-up that decides
what to push is chalicelib/services/ses_suppression.py.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.store.aws import client

REASONS = ("BOUNCE", "COMPLAINT")  # the only two SES accepts


class SesSuppressionList:
    def __init__(self, ses: Any = None) -> None:
        # A client may be handed in (tests: botocore's Stubber; moto has no suppression list).
        self._ses = ses if ses is not None else client("sesv2")

    def put(self, email: str, reason: str, tenant: str | None) -> None:
        """Add (or re-add, with this reason) ``email``; raises on any failure, so the follow-up is retried."""
        if reason not in REASONS:
            raise ValueError(f"SES suppression reason must be one of {REASONS}")
        self._ses.put_suppressed_destination(EmailAddress=email, Reason=reason, **_tenant(tenant))

    def delete(self, email: str, tenant: str | None) -> bool:
        """Remove ``email``; False when it was not on the list (nothing to do). Other failures raise."""
        try:
            self._ses.delete_suppressed_destination(EmailAddress=email, **_tenant(tenant))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NotFoundException":
                return False
            raise
        return True


def _tenant(tenant: str | None) -> dict[str, str]:
    return {"TenantName": tenant} if tenant else {}
