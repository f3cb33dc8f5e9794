"""The OpenAPI document (API.md: GET /openapi.json) names every route and only real routes,
its request schemas are the pydantic models the services validate with, and the committed
docs/openapi.json is the generated one. Protects R14's contract with internal callers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from chalicelib import openapi

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMITTED = REPO_ROOT / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


@pytest.fixture(scope="module")
def app_routes() -> set[tuple[str, str]]:
    from app import app

    return {(path, method.upper()) for path, methods in app.routes.items() for method in methods}


@pytest.fixture(scope="module")
def document() -> dict:
    return openapi.build_document()


def documented(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item if method in METHODS}


def test_r14_every_registered_route_is_documented_and_nothing_else(app_routes, document):
    # Given the routes registered on the Chalice app (every blueprint, whoever added it)
    # When the document is built
    # Then both sets are equal: a new route without docs, or docs for a removed route, fail here
    missing = sorted(app_routes - documented(document))
    stale = sorted(documented(document) - app_routes)
    assert not missing, f"routes missing from chalicelib/openapi.py OPERATIONS: {missing}"
    assert not stale, f"documented routes that do not exist: {stale}"
    assert set(openapi.OPERATIONS) == app_routes


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any structural error, dangling $ref included


def test_every_operation_documents_its_errors_and_auth(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert any(s.startswith("2") for s in statuses), (method, path)
            op = openapi.OPERATIONS[(path, method.upper())]
            if op.auth == "public":
                assert operation["security"] == [], (method, path)
            else:
                # Internal routes need a bearer key (R14): 401 without one, 422/400 for bad input, 503 retry
                assert operation["security"], (method, path)
                assert {"400", "401", "403", "422", "503"} <= statuses, (method, path)
            for name in (p[1:-1] for p in path.split("/") if p.startswith("{")):
                assert any(p["in"] == "path" and p["name"] == name for p in operation.get("parameters", [])), name


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_request_schemas_are_the_pydantic_models_the_services_validate_with(document):
    """Drift check: each JSON request body's schema equals its model's model_json_schema, and the
    model is the one the service module really uses (same object, not a copy)."""
    from chalicelib.services import (
        contacts,
        dnd,
        enrollments,
        exclusions,
        jobs,
        replies,
        send_check,
        unsubscribe,
        workspaces,
    )

    used_by_services = {
        "ContactBody": contacts.ContactBody,
        "DndBody": dnd.DndBody,
        "CheckBody": send_check.CheckBody,
        "RuleBody": exclusions.RuleBody,
        "RulePatch": exclusions.RulePatch,
        "SequenceBody": enrollments.SequenceBody,
        "AudienceBody": enrollments.AudienceBody,
        "EnrollBody": enrollments.EnrollBody,
        "UnenrollmentBody": jobs.UnenrollmentBody,
        "ReplyBody": replies.ReplyBody,
        "AuditSearchBody": dnd.AuditSearchBody,
        "SendCheckBatchBody": send_check.SendCheckBatchBody,
        "UnsubscribeLinkBody": unsubscribe.UnsubscribeLinkBody,
        "CreateWorkspaceBody": workspaces.CreateWorkspaceBody,
        "AdminWorkspacePatch": workspaces.AdminWorkspacePatch,
        "SettingsPatch": workspaces.SettingsPatch,
    }
    for name, model in used_by_services.items():
        assert openapi.REQUEST_MODELS[name] is model, name
    schemas = document["components"]["schemas"]
    for name, model in openapi.REQUEST_MODELS.items():
        expected = model.model_json_schema(ref_template=openapi.REF)
        expected.pop("$defs", None)
        assert schemas[name] == expected, name
        assert set(schemas[name]["properties"]) == set(model.model_fields), name
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        assert set(schemas[name].get("required", [])) == required, name


def test_every_json_request_body_with_a_model_references_it(document):
    referenced = set()
    for item in document["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                schema = media["schema"]
                if "$ref" in schema:
                    referenced.add(schema["$ref"].rsplit("/", 1)[1])
    # Every service request model is the body of some route (WorkspaceSettings via settings/admin bodies)
    assert set(openapi.REQUEST_MODELS) - {"WorkspaceSettings"} <= referenced


def test_settings_patch_accepts_every_setting_and_the_write_only_token(document):
    from chalicelib.models.domain import WorkspaceSettings

    patch = _resolve(document, {"$ref": openapi.REF.format(model="SettingsPatch")})
    assert set(patch["properties"]) == set(WorkspaceSettings.model_fields) | {"twilio_auth_token"}


def test_responses_accept_real_answers_of_the_pure_views():
    """A smoke check that the hand-written response schemas fit answers built by the code itself."""
    import jsonschema

    from chalicelib.logic.dnd_rules import dnd_view
    from chalicelib.models.domain import DndEntry, DndState, WorkspaceSettings

    document = openapi.build_document()
    state = DndState(
        outbound={
            "email": {
                "unsubscribed": DndEntry(
                    reason="unsubscribed", kind="permanent", source="contact", at="2026-01-01T00:00:00Z"
                )
            }
        }
    )
    registry_doc = {**document, "$ref": "#/components/schemas/Dnd"}
    jsonschema.validate(dnd_view([state]), registry_doc)
    # The settings answer hides CRM secrets behind <name>_set flags (found by make fuzz)
    from chalicelib.services.workspaces import settings_view

    registry_doc["$ref"] = "#/components/schemas/Settings"
    jsonschema.validate(settings_view(WorkspaceSettings()), registry_doc)
    with_crm = WorkspaceSettings(crm={"provider": "hubspot", "webhook_secret": "s3cret", "access_token": "t"})
    view = settings_view(with_crm)
    jsonschema.validate(view, registry_doc)
    assert "s3cret" not in str(view)


def test_committed_docs_openapi_json_is_the_generated_document():
    # `make openapi` writes it; regenerate after changing a route or a request model
    assert COMMITTED.exists(), "docs/openapi.json missing: run `make openapi`"
    assert json.loads(COMMITTED.read_text()) == openapi.build_document(), "docs/openapi.json is stale: `make openapi`"


def test_get_openapi_json_is_served_without_auth():
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as client:
        response = client.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == openapi.build_document()


def test_request_models_are_pydantic_models():
    assert all(issubclass(m, BaseModel) for m in openapi.REQUEST_MODELS.values())
