"""The OpenAPI 3.1 document of every route (API.md: served at GET /openapi.json).

Request bodies come from the pydantic models the services validate with (``model_json_schema``),
so a field added to a model appears here by itself; bodies no model describes, and every
response, are written out below. ``OPERATIONS`` must name exactly the routes registered on the
app: tests/unit/test_openapi.py fails on a route missing here or listed here without a route.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.crm.hubspot import HUBSPOT_SIGNATURE_HEADER, HUBSPOT_TIMESTAMP_HEADER
from chalicelib.crm.registry import CRM_PROVIDERS
from chalicelib.crm.webhooks import SIGNATURE_HEADER, WORKSPACE_HEADER
from chalicelib.models.domain import CHANNELS, CrmSettings, WorkspaceSettings
from chalicelib.models.requests import (
    AudienceBody,
    CheckBody,
    ContactBody,
    DndBody,
    EnrollBody,
    ExportBody,
    ReplyBody,
    ResolveFlagBody,
    RuleBody,
    RulePatch,
    SequenceBody,
    SubscriptionBody,
    TopicBody,
    UnenrollmentBody,
)
from chalicelib.services.send_check import MAX_BATCH
from chalicelib.services.workspaces import WRITE_ONLY_CRM, WRITE_ONLY_PROVIDER_SECRETS

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
Auth = Literal["api_key", "admin", "public"]

JSON = "application/json"
HTML = "text/html"
XML = "text/xml"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"

ID_PATTERN = r"^[A-Za-z0-9_.:@+\-]{1,128}$"


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: list[str], properties: dict[str, Any], *, extra: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if not extra:
        schema["additionalProperties"] = False
    return schema


STR = {"type": "string"}
BOOL = {"type": "boolean"}
COUNT = {"type": "integer", "minimum": 0}
CHANNEL = {"type": "string", "enum": list(CHANNELS)}

# Response (and hand-written request) schemas; the request models' schemas join these in components.
SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj(
        ["error", "message", "fields"],
        {"error": STR, "message": STR, "fields": {"type": "object", "additionalProperties": STR}},
    ),
    "Health": obj(["status"], {"status": {"const": "ok"}}),
    "EmailWebhookResult": obj(
        ["received", "applied", "duplicates", "counted", "skipped"],
        {"received": COUNT, "applied": COUNT, "duplicates": COUNT, "counted": COUNT, "skipped": COUNT},
    ),
    "GatewayError": obj(["Code", "Message"], {"Code": STR, "Message": STR}),
    "CreateWorkspaceBody": obj(
        ["workspace_id"],
        {
            "workspace_id": {"type": "string", "pattern": ID_PATTERN},
            "twilio_auth_token": {"type": "string", "minLength": 1},
            "settings": ref("WorkspaceSettings"),
        },
    ),
    "CreatedWorkspace": obj(["workspace_id", "api_key"], {"workspace_id": STR, "api_key": STR}),
    "AdminWorkspacePatch": {
        **obj(
            [],
            {
                "ses_identities": {
                    "type": "array",
                    "items": STR,
                    "description": "Sending domains, addresses or SES identity ARNs of this workspace; no "
                    "freemail domain or public suffix (422); one registered elsewhere is 409 identity_taken.",
                },
                "twilio_auth_token": {"type": "string", "minLength": 1},
                "settings": ref("SettingsPatch"),
            },
            extra=False,
        ),
        "description": "Operator-only settings; ses_identities cannot be changed with a workspace key.",
    },
    "AuditSearchBody": {
        **obj([], {"contact_id": {"type": "string", "pattern": ID_PATTERN}, "email": STR, "phone": STR}, extra=False),
        "description": "Exactly one of contact_id, email, phone.",
        "minProperties": 1,
        "maxProperties": 1,
    },
    "AdminWorkspace": obj(["workspace_id", "settings"], {"workspace_id": STR, "settings": ref("Settings")}),
    "SettingsPatch": {
        "description": "Any subset of the settings; twilio_auth_token and the email provider secrets are write-only.",
        "type": "object",
        "properties": {
            **{k: v for k, v in WorkspaceSettings.model_json_schema(ref_template=REF)["properties"].items()},
            "twilio_auth_token": {"type": "string", "minLength": 1},
        },
    },
    "Settings": {
        # The settings as answered: WorkspaceSettings with the secrets replaced by <name>_set flags.
        **{
            k: v
            for k, v in WorkspaceSettings.model_json_schema(ref_template=REF, mode="serialization").items()
            if k != "$defs"
        },
        "title": "Settings",
    },
    "DndEntry": obj(
        ["reason", "kind", "source", "at"],
        {
            "reason": STR,
            "kind": {"enum": ["permanent", "temporary"]},
            "source": {"enum": ["contact", "user", "workflow", "system", "crm"]},
            "actor": nullable(STR),
            "at": STR,
            "reasons": {"type": "array", "items": STR},
        },
    ),
    "Dnd": obj(
        ["status", "outbound", "inbound"],
        {
            "status": {"enum": ["on", "off", "partial"]},
            "outbound": obj(list(CHANNELS), {c: nullable(ref("DndEntry")) for c in CHANNELS}),
            "inbound": nullable(ref("DndEntry")),
        },
    ),
    "Contact": obj(
        ["contact_id", "email", "phone", "company_domain", "attributes", "dnd", "do_not_contact"],
        {
            "contact_id": STR,
            "email": nullable(STR),
            "phone": nullable(STR),
            "company_domain": nullable(STR),
            "attributes": {"type": "object"},
            "dnd": ref("Dnd"),
            "do_not_contact": BOOL,
            "topics": ref("TopicsView"),
            "created_at": nullable(STR),
            "updated_at": nullable(STR),
        },
    ),
    "TopicsView": {
        "description": "topic_id -> channel -> subscribed | unsubscribed (R16)",
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "additionalProperties": {"enum": ["subscribed", "unsubscribed"]},
        },
    },
    "Topic": obj(
        ["topic_id", "name", "channels"],
        {
            "topic_id": STR,
            "name": STR,
            "description": nullable(STR),
            "channels": {"type": "array", "items": CHANNEL},
            "sendgrid_asm_group_id": nullable({"type": "integer"}),
            "created_at": nullable(STR),
            "updated_at": nullable(STR),
        },
    ),
    "TopicList": obj(["topics"], {"topics": {"type": "array", "items": ref("Topic")}}),
    "SubscriptionResult": obj(["changed", "topics"], {"contact_id": STR, "changed": BOOL, "topics": ref("TopicsView")}),
    "DndChangeResult": obj(
        ["changed", "dnd", "do_not_contact"],
        {"contact_id": STR, "changed": BOOL, "dnd": ref("Dnd"), "do_not_contact": BOOL},
    ),
    "AuditEntry": obj(
        ["at", "channel", "direction", "action", "reason", "kind", "source", "actor"],
        {
            "topic_id": STR,
            "at": STR,
            "channel": nullable(STR),
            "direction": {"enum": ["outbound", "inbound"]},
            "action": {"enum": ["enabled", "disabled", "flagged"]},
            "reason": STR,
            "kind": nullable(STR),
            "source": STR,
            "actor": nullable(STR),
            "evidence": nullable(STR),
            "via": STR,
            "flag_id": STR,
        },
    ),
    "Flag": obj(
        ["flag_id", "contact_ids", "channel", "reason", "at", "due_by", "status"],
        {
            "flag_id": STR,
            "contact_ids": {"type": "array", "items": STR},
            "channel": STR,
            "channels": {"type": "array", "items": STR},
            "reason": STR,
            "origin": STR,
            "at": STR,
            "due_by": STR,
            "status": {"enum": ["open", "resolved"]},
            "resolution": {"enum": ["opt_out", "dismiss"]},
            "resolved_at": STR,
            "resolved_by": STR,
            "resolution_reason": STR,
        },
    ),
    "FlagPage": obj(["flags", "next"], {"flags": {"type": "array", "items": ref("Flag")}, "next": nullable(STR)}),
    "Audit": obj(["entries"], {"entries": {"type": "array", "items": ref("AuditEntry")}}),
    "Block": obj(
        ["type"],
        {
            "type": {"enum": ["dnd", "exclusion", "enrollment", "cooldown", "company_cap", "topic", "quiet_hours"]},
            "channel": STR,
            "reason": STR,
            "kind": STR,
            "exclusion_id": STR,
            "topic_id": STR,
            # quiet_hours (R17): the recipient's zone that is in quiet hours (null: unknown), the first
            # instant allowed in every candidate zone (UTC; null: none within 15 days, or unknown zone
            # with unknown_timezone=block), and the US state whose rule applied
            "timezone": nullable(STR),
            "next_allowed_at": nullable({"type": "string", "format": "date-time"}),
            "state": STR,
        },
    ),
    "SendCheckResult": obj(
        ["allowed", "dnd_status", "blocked_by", "warnings"],
        {
            "allowed": BOOL,
            "dnd_status": {"enum": ["on", "off", "partial", "unknown"]},
            "blocked_by": {"type": "array", "items": ref("Block")},
            "warnings": {"type": "array", "items": STR},
            "error": STR,
        },
    ),
    "SendCheckBatchBody": obj(
        ["checks"],
        {"checks": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": ref("CheckBody")}},
    ),
    "SendCheckBatchResult": obj(["results"], {"results": {"type": "array", "items": ref("SendCheckResult")}}),
    "UnsubscribeLinkBody": obj(
        [],
        {
            "contact_id": {"type": "string", "pattern": ID_PATTERN},
            "email": {"type": "string", "maxLength": 320},
            "channel": {**CHANNEL, "default": "email"},
            "sequence_id": {"type": "string", "pattern": ID_PATTERN},
            "topic_id": {
                "type": "string",
                "pattern": ID_PATTERN,
                "description": "a topic link (R16): one-click leaves that topic; its page is the preference center",
            },
        },
    ),
    "UnsubscribeLink": obj(
        ["url", "headers"],
        {
            "url": STR,
            "headers": obj(
                ["List-Unsubscribe", "List-Unsubscribe-Post"],
                {"List-Unsubscribe": STR, "List-Unsubscribe-Post": {"const": "List-Unsubscribe=One-Click"}},
            ),
        },
    ),
    "UnsubscribeForm": {
        "type": "object",
        "properties": {
            "List-Unsubscribe": {"type": "string", "description": "'One-Click' for an RFC 8058 one-click post"},
            "scope": {"enum": ["sequence", "all"]},
            "keep": {"type": "array", "items": CHANNEL},
            "form": {"const": "preferences", "description": "the preference center's form (topic links)"},
            "shown": {"type": "array", "items": STR, "description": "'<channel>/<topic_id>' of every box shown"},
            "sub": {"type": "array", "items": STR, "description": "'<channel>/<topic_id>' of every box ticked"},
            "everything": {"const": "yes", "description": "unsubscribe from everything"},
        },
    },
    "TwilioForm": {
        "type": "object",
        "description": "Twilio's form parameters (MessageSid, From, To, Body, MessageStatus, ErrorCode, ...).",
        "properties": {
            "MessageSid": STR,
            "From": STR,
            "To": STR,
            "Body": STR,
            "MessageStatus": STR,
            "ErrorCode": STR,
        },
    },
    "CrmWebhookResult": obj(
        ["applied", "results"],
        {"applied": COUNT, "results": {"type": "array", "items": obj(["status"], {"status": STR})}},
    ),
    "Condition": obj(["field", "op"], {"field": STR, "op": STR, "value": {}, "values": {"type": "array"}}),
    "Exclusion": obj(
        ["exclusion_id", "name", "level", "conditions", "enabled", "exclude_from_sequences", "proactive_unenroll"],
        {
            "exclusion_id": STR,
            "name": STR,
            "level": {"enum": ["person", "company"]},
            "conditions": {"type": "array", "items": ref("Condition")},
            "enabled": BOOL,
            "exclude_from_sequences": BOOL,
            "proactive_unenroll": BOOL,
            "created_at": nullable(STR),
            "updated_at": nullable(STR),
            "job_id": STR,
        },
    ),
    "ExclusionList": obj(["exclusions"], {"exclusions": {"type": "array", "items": ref("Exclusion")}}),
    "ExclusionPreview": obj(
        ["matching_contacts", "active_enrollments", "sample"],
        {
            "matching_contacts": COUNT,
            "active_enrollments": COUNT,
            "sample": {"type": "array", "items": STR},
            "total_contacts": COUNT,
            "confirm_required": BOOL,
        },
    ),
    "ExclusionImport": obj(
        ["exclusion_id", "imported", "rejected"],
        {
            "exclusion_id": STR,
            "imported": COUNT,
            "rejected": {"type": "array", "items": obj(["line", "error"], {"line": COUNT, "error": STR})},
            "rejected_count": COUNT,
            "job_id": STR,
        },
    ),
    "Sequence": obj(
        ["sequence_id", "exclusions_enabled", "reenroll_cooldown_days", "unenroll_company_on_reply"],
        {
            "sequence_id": STR,
            "exclusions_enabled": BOOL,
            "reenroll_cooldown_days": COUNT,
            "max_enrollments_per_company": nullable({"type": "integer", "minimum": 1}),
            "unenroll_company_on_reply": BOOL,
        },
    ),
    "Audience": obj(
        ["audience_id", "disabled_exclusions"],
        {"audience_id": STR, "disabled_exclusions": {"type": "array", "items": STR}},
    ),
    "Enrollment": obj(
        ["contact_id", "status"],
        {
            "contact_id": STR,
            "sequence_id": STR,
            "status": {"enum": ["active", "unenrolled"]},
            "audience_id": STR,
            "mode": {"enum": ["automated", "manual"]},
            "enrolled_at": STR,
            "unenrolled_at": STR,
            "unenroll_reason": STR,
        },
    ),
    "EnrollmentPage": obj(
        ["enrollments", "next"],
        {"enrollments": {"type": "array", "items": ref("Enrollment")}, "next": nullable(STR)},
    ),
    "EnrollmentBlocked": obj(
        ["error", "message", "blocked_by"],
        {
            "error": {"const": "enrollment_blocked"},
            "message": STR,
            "fields": {"type": "object"},
            "blocked_by": {"type": "array", "items": ref("Block")},
        },
    ),
    "JobAccepted": obj(["job_id"], {"job_id": STR}),
    "Job": obj(
        ["job_id", "status", "total", "processed", "failed"],
        {
            "job_id": STR,
            "status": {"enum": ["queued", "running", "done", "failed"]},
            "total": COUNT,
            "processed": COUNT,
            "failed": COUNT,
            "unenrolled": COUNT,
            "kind": nullable(STR),
            "created_at": nullable(STR),
            "error": STR,
            "rejected": {"type": "array", "items": obj(["line", "error"], {"line": COUNT, "error": STR})},
            "rejected_count": COUNT,
            "imported": COUNT,
            "unchanged": COUNT,
            "download_url": STR,
            "expires_in": COUNT,
            "format": nullable(STR),
        },
    ),
    "ImportJob": obj(
        ["job_id", "status", "total", "processed", "failed", "rejected"],
        {
            "job_id": STR,
            "status": {"enum": ["queued", "running", "done", "failed"]},
            "total": COUNT,
            "processed": COUNT,
            "failed": COUNT,
            "rejected": {"type": "array", "items": obj(["line", "error"], {"line": COUNT, "error": STR})},
            "rejected_count": COUNT,
            "imported": COUNT,
            "unchanged": COUNT,
        },
    ),
    "Suppression": obj(
        ["contact_ids", "channel", "direction", "reason", "kind", "source", "at"],
        {
            "suppression_id": STR,
            "contact_ids": {"type": "array", "items": STR},
            "channel": {"type": "string", "enum": [*CHANNELS, "all"]},
            "direction": {"enum": ["outbound", "inbound"]},
            "reason": STR,
            "kind": {"enum": ["permanent", "temporary"]},
            "source": {"enum": ["contact", "user", "workflow", "system", "crm"]},
            "at": STR,
            "subject": {"enum": ["email", "phone", "contact"]},
        },
    ),
    "SuppressionPage": obj(
        ["suppressions", "next"],
        {"suppressions": {"type": "array", "items": ref("Suppression")}, "next": nullable(STR)},
    ),
    "CreatedKey": obj(["key_id", "api_key"], {"key_id": STR, "api_key": STR, "prefix": STR}),
    "ApiKey": obj(
        ["key_id", "prefix", "created_at", "last_used_at"],
        {"key_id": STR, "prefix": STR, "created_at": STR, "last_used_at": nullable(STR)},
    ),
    "ApiKeyList": obj(["keys"], {"keys": {"type": "array", "items": ref("ApiKey")}}),
    "ReplyResult": obj(
        ["unenrolled", "opted_out"],
        {
            "unenrolled": {"type": "array", "items": STR},
            "opted_out": BOOL,
            "unsubscribe_intent": BOOL,
            "ignored": {"enum": ["auto_reply"]},
            "flag_id": STR,
        },
    ),
}

# The request models the services validate with, by component name.
REQUEST_MODELS: dict[str, type[BaseModel]] = {
    "ContactBody": ContactBody,
    "DndBody": DndBody,
    "CheckBody": CheckBody,
    "RuleBody": RuleBody,
    "RulePatch": RulePatch,
    "SequenceBody": SequenceBody,
    "AudienceBody": AudienceBody,
    "EnrollBody": EnrollBody,
    "UnenrollmentBody": UnenrollmentBody,
    "ReplyBody": ReplyBody,
    "ResolveFlagBody": ResolveFlagBody,
    "ExportBody": ExportBody,
    "TopicBody": TopicBody,
    "SubscriptionBody": SubscriptionBody,
    "WorkspaceSettings": WorkspaceSettings,
}


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    auth: Auth
    responses: dict[int, tuple[str | None, str | None]]  # status -> (media type, component name)
    body: str | None = None  # component name of the request body
    body_media: tuple[str, ...] = (JSON,)
    body_required: bool = True
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> schema
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""


ERR = (JSON, "Error")
OK_JSON = lambda name: (JSON, name)  # noqa: E731
NO_BODY = (None, None)

# Statuses every authenticated route may answer besides its own.
INTERNAL_ERRORS = {400: ERR, 401: ERR, 403: ERR, 422: ERR, 503: ERR}
PUBLIC_HTML_ERRORS = {400: (HTML, None), 404: (HTML, None), 503: (HTML, None)}

SUPPRESSION_FILTERS: dict[str, dict[str, Any]] = {
    "channel": {"type": "string", "enum": [*CHANNELS, "all"]},
    "reason": {"type": "string", "maxLength": 500},
    "source": {"enum": ["contact", "user", "workflow", "system", "crm"]},
    "kind": {"enum": ["permanent", "temporary"]},
    "since": {"type": "string", "description": "ISO 8601; entries recorded at or after"},
    "until": {"type": "string", "description": "ISO 8601; entries recorded at or before"},
}

OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/health", "GET"): Operation("Readiness", "meta", "public", {200: OK_JSON("Health")}),
    ("/openapi.json", "GET"): Operation("This document", "meta", "public", {200: (JSON, None)}),
    ("/v1/admin/workspaces", "POST"): Operation(
        "Create a workspace and its API key",
        "admin",
        "admin",
        {201: OK_JSON("CreatedWorkspace"), 409: ERR},
        body="CreateWorkspaceBody",
    ),
    ("/v1/admin/workspaces/{workspace_id}", "PATCH"): Operation(
        "Operator settings of a workspace: SES sending identities, Twilio token, any setting",
        "admin",
        "admin",
        {200: OK_JSON("AdminWorkspace"), 404: ERR, 409: ERR},
        body="AdminWorkspacePatch",
    ),
    ("/v1/settings", "GET"): Operation("Workspace settings", "settings", "api_key", {200: OK_JSON("Settings")}),
    ("/v1/settings", "PATCH"): Operation(
        "Change workspace settings",
        "settings",
        "api_key",
        {200: OK_JSON("Settings")},
        body="SettingsPatch",
        description="A change of ses_identities is 403 ses_identities_admin_only (PATCH /v1/admin/workspaces/{id}).",
    ),
    ("/v1/contacts/{contact_id}", "PUT"): Operation(
        "Create or replace a contact", "contacts", "api_key", {200: OK_JSON("Contact")}, body="ContactBody"
    ),
    ("/v1/contacts/{contact_id}", "GET"): Operation(
        "A contact with its DND", "contacts", "api_key", {200: OK_JSON("Contact"), 404: ERR}
    ),
    ("/v1/contacts/{contact_id}", "DELETE"): Operation(
        "Erase a contact (its suppressions survive)", "contacts", "api_key", {204: NO_BODY, 404: ERR}
    ),
    ("/v1/dnd", "POST"): Operation(
        "Set or clear DND",
        "dnd",
        "api_key",
        {200: OK_JSON("DndChangeResult"), 404: ERR, 409: ERR},
        body="DndBody",
        description="Exactly one of contact_id, email, phone. A refused clear is 409 permanent_dnd/spam_complaint.",
    ),
    ("/v1/audit", "GET"): Operation(
        "DND audit of a contact or address, oldest first",
        "dnd",
        "api_key",
        {200: OK_JSON("Audit"), 404: ERR},
        query={"contact_id": {"type": "string"}, "email": {"type": "string"}, "phone": {"type": "string"}},
    ),
    ("/v1/audit/search", "POST"): Operation(
        "DND audit of a contact or address (the GET's answer, the address in the body)",
        "dnd",
        "api_key",
        {200: OK_JSON("Audit"), 404: ERR},
        body="AuditSearchBody",
        description="Same answer as GET /v1/audit; keeps addresses out of URLs and access logs.",
    ),
    ("/v1/send-check", "POST"): Operation(
        "May we contact this recipient on this channel now?",
        "send-check",
        "api_key",
        {200: OK_JSON("SendCheckResult"), 404: ERR},
        body="CheckBody",
        description="One of contact_id, email, phone -- or contact_id with the email and/or phone the send "
        "will use (the channel's own kind): when that is the contact's address, the check costs one DynamoDB "
        "request. topic_id names a defined topic; purpose is marketing (default) or transactional (R16).",
    ),
    ("/v1/send-check/batch", "POST"): Operation(
        "Up to 100 send-checks in one call",
        "send-check",
        "api_key",
        {200: OK_JSON("SendCheckBatchResult")},
        body="SendCheckBatchBody",
    ),
    ("/v1/unsubscribe-links", "POST"): Operation(
        "Mint an unsubscribe link and its RFC 8058 headers",
        "unsubscribe",
        "api_key",
        {200: OK_JSON("UnsubscribeLink"), 404: ERR},
        body="UnsubscribeLinkBody",
    ),
    ("/u/{token}", "GET"): Operation(
        "Unsubscribe confirmation page (never changes state)",
        "unsubscribe",
        "public",
        {200: (HTML, None), 404: (HTML, None), 503: (HTML, None)},
    ),
    ("/u/{token}", "HEAD"): Operation(
        "Unsubscribe page headers", "unsubscribe", "public", {200: NO_BODY, 404: NO_BODY, 503: NO_BODY}
    ),
    ("/u/{token}", "POST"): Operation(
        "Apply an unsubscribe (RFC 8058 one-click or the page's form)",
        "unsubscribe",
        "public",
        {200: (HTML, None), **PUBLIC_HTML_ERRORS},
        body="UnsubscribeForm",
        body_media=(FORM, MULTIPART),
    ),
    ("/v1/webhooks/twilio/{workspace_id}/sms", "POST"): Operation(
        "Twilio inbound SMS (STOP/START/HELP)",
        "webhooks",
        "public",
        {200: (XML, None), 400: ERR, 403: ERR, 503: ERR},
        body="TwilioForm",
        body_media=(FORM,),
        headers={"X-Twilio-Signature": {"type": "string"}},
    ),
    ("/v1/webhooks/twilio/{workspace_id}/status", "POST"): Operation(
        "Twilio delivery-status callback",
        "webhooks",
        "public",
        {200: (XML, None), 400: ERR, 403: ERR, 503: ERR},
        body="TwilioForm",
        body_media=(FORM,),
        headers={"X-Twilio-Signature": {"type": "string"}},
    ),
    ("/v1/webhooks/crm/{provider}", "POST"): Operation(
        "CRM email opt-out field changes (R13)",
        "webhooks",
        "public",
        {200: OK_JSON("CrmWebhookResult"), 400: ERR, 403: ERR, 404: ERR, 409: ERR, 422: ERR, 503: ERR},
        body=None,
        headers={WORKSPACE_HEADER: {"type": "string"}, SIGNATURE_HEADER: {"type": "string"}},
        description="The provider's own JSON payload, signed with the workspace's CRM webhook secret.",
    ),
    ("/v1/webhooks/sendgrid/{workspace_id}", "POST"): Operation(
        "SendGrid Event Webhook: bounces, drops, spam reports, unsubscribes (R19)",
        "webhooks",
        "public",
        {200: OK_JSON("EmailWebhookResult"), 400: ERR, 403: ERR, 422: ERR, 503: ERR},
        body=None,
        headers={
            "X-Twilio-Email-Event-Webhook-Signature": {"type": "string"},
            "X-Twilio-Email-Event-Webhook-Timestamp": {"type": "string"},
        },
        description="A JSON array of SendGrid events, ECDSA-signed with the key in sendgrid_webhook_public_key.",
    ),
    ("/v1/webhooks/mailgun/{workspace_id}", "POST"): Operation(
        "Mailgun webhook: failed, complained, unsubscribed (R19)",
        "webhooks",
        "public",
        {200: OK_JSON("EmailWebhookResult"), 400: ERR, 403: ERR, 422: ERR, 503: ERR},
        body=None,
        description="Mailgun's {signature, event-data}, HMAC-signed with mailgun_signing_key.",
    ),
    ("/v1/webhooks/postmark/{workspace_id}", "POST"): Operation(
        "Postmark webhook: Bounce, SpamComplaint, SubscriptionChange (R19)",
        "webhooks",
        "public",
        {200: OK_JSON("EmailWebhookResult"), 400: ERR, 403: ERR, 422: ERR, 503: ERR},
        body=None,
        headers={"Authorization": {"type": "string"}},
        description="One Postmark webhook record; HTTP Basic auth, password postmark_webhook_secret.",
    ),
    ("/v1/webhooks/crm/{provider}/{workspace_id}", "POST"): Operation(
        "CRM email opt-out field changes, signed the CRM's own way (R13, issue 11)",
        "webhooks",
        "public",
        {200: OK_JSON("CrmWebhookResult"), 400: ERR, 403: ERR, 404: ERR, 409: ERR, 422: ERR, 503: ERR},
        body=None,
        headers={
            HUBSPOT_SIGNATURE_HEADER: {"type": "string"},
            HUBSPOT_TIMESTAMP_HEADER: {"type": "string"},
            SIGNATURE_HEADER: {"type": "string"},
        },
        description=(
            "HubSpot's webhook payload (an array of subscription events) with X-HubSpot-Signature-v3 and"
            " X-HubSpot-Request-Timestamp (at most 5 minutes old), keyed with the workspace's CRM webhook"
            " secret as the app secret; Salesforce's records with X-Optout-Signature (HMAC-SHA256 of the"
            " body). Records resolve by contact_id, attributes.crm_id (objectId / Id) or email."
        ),
    ),
    ("/v1/exclusions", "POST"): Operation(
        "Create an exclusion rule", "exclusions", "api_key", {201: OK_JSON("Exclusion"), 409: ERR}, body="RuleBody"
    ),
    ("/v1/exclusions", "GET"): Operation(
        "List exclusion rules", "exclusions", "api_key", {200: OK_JSON("ExclusionList")}
    ),
    ("/v1/exclusions/preview", "POST"): Operation(
        "What a rule would match, without saving it",
        "exclusions",
        "api_key",
        {200: OK_JSON("ExclusionPreview")},
        body="RuleBody",
    ),
    ("/v1/exclusions/import", "POST"): Operation(
        "One rule from a CSV of emails or domains",
        "exclusions",
        "api_key",
        {201: OK_JSON("ExclusionImport"), 409: ERR},
        body="CsvImport",
        body_media=("text/csv", "text/plain"),
        query={
            "level": {"enum": ["person", "company"]},
            "name": {"type": "string"},
            "confirm": {"type": "string"},
            "proactive_unenroll": {"type": "string"},
        },
    ),
    ("/v1/exclusions/{exclusion_id}", "GET"): Operation(
        "An exclusion rule", "exclusions", "api_key", {200: OK_JSON("Exclusion"), 404: ERR}
    ),
    ("/v1/exclusions/{exclusion_id}", "PATCH"): Operation(
        "Change an exclusion rule (level is fixed)",
        "exclusions",
        "api_key",
        {200: OK_JSON("Exclusion"), 404: ERR, 409: ERR},
        body="RulePatch",
    ),
    ("/v1/exclusions/{exclusion_id}", "DELETE"): Operation(
        "Delete an exclusion rule", "exclusions", "api_key", {204: NO_BODY, 404: ERR}
    ),
    ("/v1/sequences/{sequence_id}", "PUT"): Operation(
        "Create or replace a sequence's settings",
        "sequences",
        "api_key",
        {200: OK_JSON("Sequence")},
        body="SequenceBody",
        body_required=False,
    ),
    ("/v1/sequences/{sequence_id}", "GET"): Operation(
        "A sequence's settings", "sequences", "api_key", {200: OK_JSON("Sequence"), 404: ERR}
    ),
    ("/v1/audiences/{audience_id}", "PUT"): Operation(
        "Create or replace an audience",
        "sequences",
        "api_key",
        {200: OK_JSON("Audience")},
        body="AudienceBody",
        body_required=False,
    ),
    ("/v1/sequences/{sequence_id}/enrollments", "POST"): Operation(
        "Enroll a contact",
        "sequences",
        "api_key",
        {201: OK_JSON("Enrollment"), 404: ERR, 409: (JSON, "EnrollmentBlocked")},
        body="EnrollBody",
    ),
    ("/v1/sequences/{sequence_id}/enrollments", "GET"): Operation(
        "A page of a sequence's enrollments",
        "sequences",
        "api_key",
        {200: OK_JSON("EnrollmentPage")},
        query={
            "status": {"enum": ["active", "unenrolled"]},
            "cursor": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        },
    ),
    ("/v1/sequences/{sequence_id}/enrollments/{contact_id}", "DELETE"): Operation(
        "Unenroll a contact (starts the re-enrollment cooldown)",
        "sequences",
        "api_key",
        {200: OK_JSON("Enrollment"), 404: ERR},
    ),
    ("/v1/unenrollments", "POST"): Operation(
        "Bulk unenrollment as a job",
        "jobs",
        "api_key",
        {202: OK_JSON("JobAccepted"), 404: ERR},
        body="UnenrollmentBody",
    ),
    ("/v1/jobs/{job_id}", "GET"): Operation("A job's progress", "jobs", "api_key", {200: OK_JSON("Job"), 404: ERR}),
    ("/v1/flags", "GET"): Operation(
        "Flags a person must resolve (R15), oldest first",
        "flags",
        "api_key",
        {200: OK_JSON("FlagPage")},
        query={
            "status": {"type": "string", "enum": ["open", "resolved"]},
            "cursor": {"type": "string"},
            "limit": {"type": "string", "pattern": "^[0-9]{1,3}$"},
        },
        description="Paged by `next` -> `cursor`. Every flag has due_by = 10 US business days after it arrived.",
    ),
    ("/v1/flags/{flag_id}", "POST"): Operation(
        "Resolve a flag once: opt_out (permanent DND, source contact) or dismiss",
        "flags",
        "api_key",
        {200: OK_JSON("Flag"), 404: ERR, 409: ERR},
        body="ResolveFlagBody",
        description="Resolving twice is 409 flag_resolved.",
    ),
    ("/v1/suppressions/import", "POST"): Operation(
        "Import existing suppressions as a job (R18)",
        "suppressions",
        "api_key",
        {202: OK_JSON("JobAccepted"), 413: ERR},
        body="SuppressionImport",
        body_media=("text/csv", "application/x-ndjson", "text/plain"),
        description="Columns/fields: email or phone, channel, reason, kind, source, at (ISO 8601, the original "
        "time). A malformed file is 400 naming the line; bad rows are listed by line in the job's rejected. "
        "Bodies up to 10 MB (413 beyond).",
    ),
    ("/v1/suppressions", "GET"): Operation(
        "Active suppressions, oldest first, paged with a cursor",
        "suppressions",
        "api_key",
        {200: OK_JSON("SuppressionPage")},
        query={
            **SUPPRESSION_FILTERS,
            "cursor": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 500},
        },
    ),
    ("/v1/exports", "POST"): Operation(
        "Export suppressions or audit entries to a file (job; the done job has download_url)",
        "suppressions",
        "api_key",
        {202: OK_JSON("JobAccepted")},
        body="ExportBody",
    ),
    ("/v1/keys", "POST"): Operation(
        "Issue another API key of this workspace (shown once)",
        "keys",
        "api_key",
        {201: OK_JSON("CreatedKey")},
        body_required=False,
    ),
    ("/v1/keys", "GET"): Operation(
        "This workspace's API keys (prefix, created, last used; never the key)",
        "keys",
        "api_key",
        {200: OK_JSON("ApiKeyList")},
    ),
    ("/v1/keys/{key_id}", "DELETE"): Operation(
        "Revoke an API key (refused within 1 s everywhere); the last key -> 409 last_key",
        "keys",
        "api_key",
        {204: NO_BODY, 404: ERR, 409: ERR},
    ),
    ("/v1/topics", "GET"): Operation("The workspace's topics (R16)", "topics", "api_key", {200: OK_JSON("TopicList")}),
    ("/v1/topics/{topic_id}", "PUT"): Operation(
        "Create or replace a topic",
        "topics",
        "api_key",
        {200: OK_JSON("Topic"), 409: ERR},
        body="TopicBody",
        description="409 sendgrid_group_taken when another topic maps the same SendGrid unsubscribe group.",
    ),
    ("/v1/topics/{topic_id}", "GET"): Operation("A topic", "topics", "api_key", {200: OK_JSON("Topic"), 404: ERR}),
    ("/v1/topics/{topic_id}", "DELETE"): Operation(
        "Delete a topic (its recorded unsubscribes stay and keep blocking checks naming it)",
        "topics",
        "api_key",
        {204: NO_BODY, 404: ERR},
    ),
    ("/v1/subscriptions", "POST"): Operation(
        "Unsubscribe from or resubscribe to a topic",
        "topics",
        "api_key",
        {200: OK_JSON("SubscriptionResult"), 404: ERR, 409: ERR},
        body="SubscriptionBody",
        description="Exactly one of contact_id, email, phone; channel defaults to every channel of the topic "
        "the recipient is reached on. Undoing the person's own unsubscribe without their re-opt-in is 409 "
        "permanent_unsubscribe.",
    ),
    ("/v1/replies", "POST"): Operation(
        "A reply to a sequence (R9)",
        "sequences",
        "api_key",
        {200: OK_JSON("ReplyResult"), 404: ERR},
        body="ReplyBody",
    ),
}

PATH_PARAMETER_SCHEMAS: dict[str, dict[str, Any]] = {
    "provider": {"type": "string", "enum": list(CRM_PROVIDERS)},
}


def _settings_view_schemas() -> dict[str, dict[str, Any]]:
    settings = copy.deepcopy(SCHEMAS["Settings"])
    settings["properties"]["crm"] = {"anyOf": [ref("CrmSettingsView"), {"type": "null"}]}
    for name in WRITE_ONLY_PROVIDER_SECRETS:
        settings["properties"].pop(name, None)
        settings["properties"][name + "_set"] = {"type": "boolean"}
    settings["required"] = sorted(settings["properties"])
    crm = copy.deepcopy(CrmSettings.model_json_schema(ref_template=REF, mode="serialization"))
    for name in WRITE_ONLY_CRM:
        crm["properties"].pop(name, None)
        crm["properties"][name + "_set"] = {"type": "boolean"}
    crm["title"] = "CrmSettingsView"
    crm["required"] = sorted(crm["properties"])
    return {"Settings": settings, "CrmSettingsView": crm}


def _component_schemas() -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    for name, model in REQUEST_MODELS.items():
        schema = copy.deepcopy(model.model_json_schema(ref_template=REF))
        for sub_name, sub_schema in schema.pop("$defs", {}).items():
            schemas.setdefault(sub_name, sub_schema)
        schemas[name] = schema
    schemas.update(copy.deepcopy(SCHEMAS))
    schemas.update(_settings_view_schemas())
    schemas["SuppressionImport"] = {
        "type": "string",
        "description": "CSV with a header row (email or phone, channel, reason, kind, source, at), or NDJSON",
    }
    schemas["CsvImport"] = {"type": "string", "description": "CSV with a header row naming a column email or domain"}
    return dict(sorted(schemas.items()))


def _media(media_type: str | None, component: str | None) -> dict[str, Any]:
    if media_type is None:
        return {}
    if component is None:
        schema: dict[str, Any] = {"type": "string"} if media_type in (HTML, XML) else {"type": "object"}
    else:
        schema = ref(component)
    return {"content": {media_type: {"schema": schema}}}


def _operation(path: str, method: str, op: Operation) -> dict[str, Any]:
    statuses: dict[int, tuple[str | None, str | None]] = dict(op.responses)
    if op.auth != "public":
        for status, answer in INTERNAL_ERRORS.items():
            statuses.setdefault(status, answer)
    # Chalice answers a Content-Type the route does not take with 415 before the view runs.
    statuses.setdefault(415, (JSON, "GatewayError"))
    responses = {
        str(status): {"description": _describe(status), **_media(*answer)}
        for status, answer in sorted(statuses.items())
    }
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if op.description:
        operation["description"] = op.description
    operation["security"] = {"api_key": [{"apiKey": []}], "admin": [{"adminKey": []}], "public": []}[op.auth]
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETER_SCHEMAS.get(name, {"type": "string", "pattern": ID_PATTERN}),
        }
        for name in _path_parameters(path)
    ]
    parameters += [{"name": n, "in": "query", "required": False, "schema": s} for n, s in op.query.items()]
    parameters += [{"name": n, "in": "header", "required": False, "schema": s} for n, s in op.headers.items()]
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.body_required,
            "content": {media: {"schema": ref(op.body)} for media in op.body_media},
        }
    elif path.startswith("/v1/webhooks/crm/"):
        body_schema = {"type": "object"} if path.count("/") == 4 else {"type": ["array", "object"]}
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body_schema}}}
    elif path.startswith("/v1/webhooks/sendgrid/"):
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": {"type": "array"}}}}
    elif path.startswith(("/v1/webhooks/mailgun/", "/v1/webhooks/postmark/")):
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": {"type": "object"}}}}
    return operation


def _path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    400: "Malformed body",
    401: "Missing or unknown API key",
    403: "Forbidden (wrong key kind or bad signature)",
    404: "Not found",
    409: "Conflict",
    413: "Body too large (split the file)",
    415: "Unsupported media type",
    422: "Invalid input (fields name the problem)",
    503: "Temporarily unavailable; retry (nothing was stored)",
}


def _describe(status: int) -> str:
    return _DESCRIPTIONS.get(status, "Response")


def build_document(server_url: str | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), op in sorted(OPERATIONS.items()):
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, op)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "optout",
            "version": "1",
            "description": "Opt-out, do-not-contact and suppression service. Wire contract: API.md.",
        },
        "paths": paths,
        "components": {
            "schemas": _component_schemas(),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "A workspace API key"},
                "adminKey": {"type": "http", "scheme": "bearer", "description": "The admin key"},
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def document_json(server_url: str | None = None) -> str:
    return json.dumps(build_document(server_url), indent=2, sort_keys=False) + "\n"


def main() -> None:  # `make openapi`
    import sys

    sys.stdout.write(document_json())


if __name__ == "__main__":
    main()
