"""The OpenAPI 3.1 document of every route (API.md: served at GET /openapi.json).

Request bodies come from the pydantic models the services validate with (chalicelib/models/
requests.py), responses from the models of chalicelib/models/responses.py (``model_json_schema``,
their ``$defs`` hoisted into components), so a field added to a model appears here by itself; the
two form-encoded bodies no model describes are written out below. ``OPERATIONS`` must name exactly
the routes registered on the app: tests/unit/test_openapi.py fails on a route missing here or listed
here without a route.
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from chalicelib.crm.registry import CRM_PROVIDERS
from chalicelib.email_providers.registry import EMAIL_PROVIDERS
from chalicelib.models.domain import CHANNELS, CrmSettings, WorkspaceSettings
from chalicelib.models.requests import (
    ID_PATTERN,
    AdminWorkspacePatch,
    AudienceBody,
    AuditSearchBody,
    CheckBody,
    ContactBody,
    CreateWorkspaceBody,
    DndBody,
    EnrollBody,
    ExportBody,
    ReplyBody,
    ResolveFlagBody,
    RuleBody,
    RulePatch,
    SendCheckBatchBody,
    SequenceBody,
    SettingsPatch,
    SubscriptionBody,
    TopicBody,
    UnenrollmentBody,
    UnsubscribeLinkBody,
)
from chalicelib.services.workspaces import WRITE_ONLY_CRM, WRITE_ONLY_PROVIDER_SECRETS

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
Auth = Literal["api_key", "admin", "public"]

JSON = "application/json"
HTML = "text/html"
XML = "text/xml"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


STR = {"type": "string"}
CHANNEL = {"type": "string", "enum": list(CHANNELS)}

# The components no model describes: the settings as answered (WorkspaceSettings with the secrets
# replaced by <name>_set flags, finished in _settings_view_schemas), and the two form-encoded bodies,
# which the routes read as forms (repeated keys; Twilio signs every parameter it posts, so unknown
# ones are taken, never refused). Every other component comes from a model: REQUEST_MODELS,
# chalicelib.models.responses.RESPONSE_MODELS.
SCHEMAS: dict[str, dict[str, Any]] = {
    "Settings": {
        **{
            k: v
            for k, v in WorkspaceSettings.model_json_schema(ref_template=REF, mode="serialization").items()
            if k != "$defs"
        },
        "title": "Settings",
    },
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
    "AuditSearchBody": AuditSearchBody,
    "SendCheckBatchBody": SendCheckBatchBody,
    "UnsubscribeLinkBody": UnsubscribeLinkBody,
    "CreateWorkspaceBody": CreateWorkspaceBody,
    "AdminWorkspacePatch": AdminWorkspacePatch,
    "SettingsPatch": SettingsPatch,
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
    body_schema: dict[str, Any] | None = None  # a provider's own JSON payload (webhooks)


ERR = (JSON, "Error")
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

ROUTES_FILE = Path(__file__).with_name("openapi_routes.toml")


def _answer(value: str) -> tuple[str | None, str | None]:
    """A response as the routes file writes it: a component (JSON), a media type, or "" (no body)."""
    if not value:
        return NO_BODY
    return (value, None) if "/" in value else (JSON, value)


def _operations() -> dict[tuple[str, str], Operation]:
    operations: dict[tuple[str, str], Operation] = {}
    for key, route in tomllib.loads(ROUTES_FILE.read_text(encoding="utf-8")).items():
        method, path = key.split(" ", 1)
        fields = dict(route)
        fields["responses"] = {int(status): _answer(answer) for status, answer in route["responses"].items()}
        fields["query"] = {
            **(SUPPRESSION_FILTERS if fields.pop("query_filters", False) else {}),
            **route.get("query", {}),
        }
        if "body_media" in route:
            fields["body_media"] = tuple(route["body_media"])
        operations[(path, method)] = Operation(**fields)  # TypeError on a key Operation does not know
    for provider in EMAIL_PROVIDERS.values():  # one route per provider of the registry (R19)
        operations[(f"/v1/webhooks/{provider.name}/{{workspace_id}}", "POST")] = Operation(
            provider.summary,
            "webhooks",
            "public",
            {200: (JSON, "EmailWebhookResult"), 400: ERR, 403: ERR, 422: ERR, 503: ERR},
            headers={name: {"type": "string"} for name in provider.headers},
            description=provider.description,
            body_schema={"type": provider.body_type},
        )
    return operations


OPERATIONS: dict[tuple[str, str], Operation] = _operations()

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


def _model_schemas(models: Any, mode: Literal["validation", "serialization"]) -> dict[str, dict[str, Any]]:
    """Each model's schema by its name, the models it refers to ($defs) hoisted beside it."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, model in models:
        schema = copy.deepcopy(model.model_json_schema(ref_template=REF, mode=mode))
        for sub_name, sub_schema in schema.pop("$defs", {}).items():
            schemas.setdefault(sub_name, sub_schema)
        schemas[name] = schema
    return schemas


def _finish_response(schema: Any) -> Any:
    """An answer's optional field has no default to speak of (``"default": null`` beside a non-null
    type would only confuse clients and validators); ``{"x-component": name}`` is a reference to a
    component no response model describes (Settings)."""
    if isinstance(schema, dict):
        if "x-component" in schema:
            return ref(schema["x-component"])
        return {k: _finish_response(v) for k, v in schema.items() if not (k == "default" and v is None)}
    if isinstance(schema, list):
        return [_finish_response(v) for v in schema]
    return schema


def _component_schemas() -> dict[str, dict[str, Any]]:
    from chalicelib.models.responses import RESPONSE_MODELS

    responses = _model_schemas(((model.__name__, model) for model in RESPONSE_MODELS), "serialization")
    schemas = {name: _finish_response(schema) for name, schema in responses.items()}
    schemas.update(_model_schemas(REQUEST_MODELS.items(), "validation"))
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
    elif op.body_schema is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": op.body_schema}}}
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
