"""Body of the ``on_ses_notification`` Lambda (SNS topic ``ses-notifications``, R8).

A message that is not an SES notification (bad JSON, wrong shape) is logged and dropped:
retrying it can never succeed. A failure to store raises, so Lambda/SNS retries the delivery
(already-applied recipients are skipped by their exactly-once markers). Logs carry ids and
counts, never addresses.
"""

from __future__ import annotations

from pydantic import ValidationError

from chalicelib.models.ses import parse_ses_notification
from chalicelib.observability import logger
from chalicelib.services.context import Services, get_services
from chalicelib.services.ses import SesSummary, record_ses_notification


def handle_ses_notification(message: str, services: Services | None = None) -> SesSummary | None:
    try:
        notification = parse_ses_notification(message)
    except ValidationError as exc:
        logger.warning(
            "malformed SES notification dropped",
            extra={"errors": [".".join(str(p) for p in e["loc"]) + ": " + e["type"] for e in exc.errors()][:10]},
        )
        return None
    except (ValueError, TypeError):  # not JSON at all
        logger.warning("SES notification is not JSON; dropped")
        return None
    summary = record_ses_notification(services or get_services(), notification)
    if summary.workspace_id:
        logger.info(
            "SES notification handled",
            extra={
                "type": notification.type,
                "shape": notification.shape,
                "message_id": notification.mail.message_id,
                "workspace_id": summary.workspace_id,
                "applied": summary.applied,
                "duplicates": summary.duplicates,
                "counted": summary.counted,
                "skipped": summary.skipped,
            },
        )
    return summary
