"""The layers of chalicelib (README, Layout) and what each may import, checked on the source.

Reads every module's imports with ``ast`` (module level and inside functions; imports under
``if TYPE_CHECKING:`` are types only and are not counted) and fails naming the file, the line and
the rule it breaks -- so a store call from a blueprint or boto3 in a service cannot slip in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
# Libraries that do I/O with AWS or over HTTP: only the store (boto3) and the CRM/webhook transports.
AWS = {"boto3", "botocore"}
IO = AWS | {"chalice", "requests", "urllib3", "http.client", "urllib.request", "ssl", "twilio"}

# layer -> the chalicelib layers it must not import, and the libraries it must not import.
FORBIDDEN: dict[str, tuple[set[str], set[str]]] = {
    # Blueprints: parse -> one service call -> response. Never a store, never boto3.
    "api": ({"store", "consumers", "ports"}, AWS),
    # SNS/SQS handler bodies: hand records to services.
    "consumers": ({"api", "store"}, IO),
    # Use cases: logic + the stores on Services (typed by their ports). No HTTP layer, no boto3.
    "services": ({"api", "consumers"}, IO),
    # Decisions: records in, verdict out. Nothing that does I/O, nothing above or beside it.
    "logic": ({"api", "consumers", "services", "store", "ports", "crm", "email_providers", "config"}, IO),
    # pydantic models and typed records.
    "models": ({"api", "consumers", "services", "store", "ports", "config"}, IO),
    # DynamoDB/SQS/SNS/S3: the only boto3 users; they know nothing of who calls them.
    "store": ({"api", "consumers", "services", "ports", "crm", "email_providers"}, IO - AWS),
    # Provider clients and webhook parsers: no stores, no use cases.
    "crm": ({"api", "consumers", "services", "store", "ports"}, AWS),
    "email_providers": ({"api", "consumers", "services", "store", "ports"}, AWS),
    # Protocols only: importing the stores (at run time) would defeat them.
    "ports": ({"api", "consumers", "services", "store", "crm", "email_providers"}, IO),
}


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every run-time import of one file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = _type_checking_lines(tree)
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.append((node.lineno, module))
    return found


def violations() -> list[str]:
    broken: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer not in FORBIDDEN:
            continue
        layers, libraries = FORBIDDEN[layer]
        for line, module in imports(path):
            parts = module.split(".")
            where = f"{path.relative_to(ROOT)}:{line}"
            if parts[0] == "chalicelib" and len(parts) > 1 and parts[1] in layers:
                broken.append(f"{where}: {layer}/ must not import chalicelib.{parts[1]} ({module})")
            if any(module == lib or module.startswith(lib + ".") for lib in libraries):
                broken.append(f"{where}: {layer}/ must not import {module}")
    return broken


def test_each_layer_imports_only_what_the_readme_layout_allows():
    assert violations() == []


def test_only_the_store_uses_boto3():
    users = {
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        for _, module in imports(path)
        if module.split(".")[0] in AWS
    }
    assert users and all(user.startswith("chalicelib/store/") for user in users), sorted(users)


@pytest.mark.parametrize(
    ("layer", "source", "expected"),
    [
        ("api", "from chalicelib.store.contacts import ContactStore\n", "api/ must not import chalicelib.store"),
        ("services", "def f():\n    import boto3\n", "services/ must not import boto3"),
        ("logic", "from ..services import context\n", "logic/ must not import chalicelib.services"),
    ],
)
def test_the_check_catches_a_broken_rule(tmp_path, monkeypatch, layer, source, expected):
    # Given a package with one module that breaks a rule (the real tree's rules, a fake tree)
    root = tmp_path / "repo"
    module = root / "chalicelib" / layer / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text(source + "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import boto3\n")
    monkeypatch.setitem(globals(), "ROOT", root)
    monkeypatch.setitem(globals(), "PACKAGE", root / "chalicelib")
    # Then the check names the file and the rule (and ignores the typing-only import)
    (found,) = violations()
    assert found.startswith(f"chalicelib/{layer}/bad.py:") and expected in found
