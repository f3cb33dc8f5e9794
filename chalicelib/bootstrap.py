"""Idempotent creation of a workspace with a known key (the local stack's `default`)."""

from __future__ import annotations

from chalicelib.errors import Conflict
from chalicelib.services.context import get_services, iso
from chalicelib.services.workspaces import create_workspace


def ensure_workspace(workspace_id: str, api_key: str) -> None:
    services = get_services()
    try:
        create_workspace(services, {"workspace_id": workspace_id}, api_key=api_key)
    except Conflict:
        if services.workspaces.workspace_for_key(api_key) is None:
            services.workspaces.add_api_key(workspace_id, api_key, iso(services.clock()))
