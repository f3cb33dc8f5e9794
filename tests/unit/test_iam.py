"""Least privilege (issue 5): the per-stage IAM policies grant every AWS action the code calls, on
that stage's resources only, and nothing else (no ``*`` actions, no ``Resource: "*"`` beyond X-Ray).

The actions the code needs are found statically: an AST scan of app.py and chalicelib/ for calls on
boto3 clients of the services the app uses, checked against botocore's own operation names, then
mapped to IAM actions (checked against cfn-lint's catalogue of real IAM actions). Actions no code
calls but the platform needs (logs, X-Ray, the SQS event-source mapping) come from the Chalice
config and the ``@app.on_sqs_message`` decorators in app.py.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
CHALICE_DIR = ROOT / ".chalice"
SCANNED_SERVICES = ("dynamodb", "sqs", "sns", "ssm", "s3", "sesv2")
STAGES = ("dev", "prod")

# Operations whose IAM action is not their own name.
IAM_ALIASES = {
    ("dynamodb", "TransactGetItems"): {"dynamodb:GetItem"},
    ("sns", "PublishBatch"): {"sns:Publish"},
    # SESv2's operations are authorised under the IAM prefix ses.
    ("sesv2", "PutSuppressedDestination"): {"ses:PutSuppressedDestination"},
    ("sesv2", "DeleteSuppressedDestination"): {"ses:DeleteSuppressedDestination"},
}
# TransactWriteItems is authorised per item kind (there is no dynamodb:TransactWriteItems action).
TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# What Lambda itself needs: CloudWatch Logs for the log groups (EMF metrics ride on them), X-Ray
# segments when tracing is on, and the SQS event-source mapping's polling for each consumed queue.
LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# The SES suppression list (OPTOUT_SES_SUPPRESSION, issue 16 point 5): the account-level list has no
# resource-level permissions (a tenant is only an optional resource), so these take Resource "*".
# They sit in their own statement, which infra/deploy.py leaves out where the stage keeps it off.
SES_SUPPRESSION_ACTIONS = {"ses:PutSuppressedDestination", "ses:DeleteSuppressedDestination"}
STAR_RESOURCE_ACTIONS = (XRAY_ACTIONS, SES_SUPPRESSION_ACTIONS)
EVENT_SOURCE_SQS_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# Tables encrypted with the stage's customer-managed key (infra/template.yaml TableKey): DynamoDB
# uses the key on the caller's behalf, so the caller needs these on it (reads, writes, new data keys).
TABLE_KEY_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
ANY_KEY = "arn:aws:kms:*:*:key/*"  # key ids are random: the statement is pinned by alias and service


# --------------------------------------------------------------------------------------------
# What the code calls


@cache
def operations(service: str) -> dict[str, str]:
    """snake_case method name -> API operation name, from botocore's service model."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


@dataclass
class Usage:
    calls: set[tuple[str, str]] = field(default_factory=set)  # (service, OperationName)
    transact_kinds: set[str] = field(default_factory=set)
    where: dict[tuple[str, str], str] = field(default_factory=dict)


def _client_service(node: ast.AST) -> str | None:
    """``client("sqs")``, ``boto3.client("sqs")``, ``session.client("sqs")`` -> "sqs"."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    arg = node.args[0]
    if name == "client" and isinstance(arg, ast.Constant) and arg.value in SCANNED_SERVICES:
        return str(arg.value)
    return None


def _target_key(target: ast.AST) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return "." + target.attr  # attribute bindings (self._ddb) hold across modules
    return None


def scan_sources(sources: dict[str, str]) -> Usage:
    """Every (service, operation) the given modules call on a boto3 client.

    A call counts when its receiver is a client (``client("sns").publish``), a name or attribute
    bound to one (``ddb = client("dynamodb")``, ``self._ddb = client("dynamodb")``, attributes
    shared across modules), or -- as a fallback for clients passed around -- any receiver in a
    module that creates a client of a service whose operation has that method name.
    """
    trees = {path: ast.parse(text, filename=path) for path, text in sources.items()}
    attribute_bindings: dict[str, str] = {}
    local_bindings: dict[str, dict[str, str]] = {}
    created: dict[str, set[str]] = {}
    for path, tree in trees.items():
        local_bindings[path] = {}
        created[path] = set()
        for node in ast.walk(tree):
            service = _client_service(node)
            if service:
                created[path].add(service)
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                service = _client_service(node.value)
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets if service else []:
                    key = _target_key(target)
                    if key and key.startswith("."):
                        attribute_bindings[key] = service  # type: ignore[assignment]
                    elif key:
                        local_bindings[path][key] = service  # type: ignore[assignment]

    usage = Usage()
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method, receiver = node.func.attr, node.func.value
            bound = _client_service(receiver) or (
                local_bindings[path].get(receiver.id)
                if isinstance(receiver, ast.Name)
                else attribute_bindings.get("." + receiver.attr)
                if isinstance(receiver, ast.Attribute)
                else None
            )
            services = {bound} if bound else {s for s in created[path] if method in operations(s)}
            if method in ("get_paginator", "get_waiter") and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            # A presigned URL is authorised by the signer's grant of the operation it names.
            if method == "generate_presigned_url" and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            for service in services:
                operation = operations(service).get(method)
                if operation:
                    usage.calls.add((service, operation))
                    usage.where.setdefault((service, operation), f"{path}:{node.lineno}")
        if ("dynamodb", "TransactWriteItems") in usage.calls:
            for node in ast.walk(tree):
                if isinstance(node, ast.Dict):
                    usage.transact_kinds.update(
                        k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in TRANSACT_ITEM_ACTIONS
                    )
    return usage


def code_sources() -> dict[str, str]:
    files = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    return {str(f.relative_to(ROOT)): f.read_text(encoding="utf-8") for f in files}


@cache
def iam_catalogue() -> dict[str, set[str]]:
    """Known IAM actions per service prefix (lower case), from cfn-lint's policy data."""
    import cfnlint.data.AdditionalSpecs as specs

    data = json.loads((Path(specs.__file__).parent / "Policies.json").read_text(encoding="utf-8"))
    return {prefix: {a.lower() for a in entry["Actions"]} for prefix, entry in data.items()}


def iam_actions(service: str, operation: str, usage: Usage) -> set[str]:
    if (service, operation) in IAM_ALIASES:
        return IAM_ALIASES[(service, operation)]
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        assert usage.transact_kinds, "TransactWriteItems called but no Put/Update/Delete/ConditionCheck item found"
        return {TRANSACT_ITEM_ACTIONS[k] for k in usage.transact_kinds}
    known = iam_catalogue()[service]
    if operation.lower() in known:
        return {f"{service}:{operation}"}
    if operation.endswith("Batch") and operation[: -len("Batch")].lower() in known:
        return {f"{service}:{operation[: -len('Batch')]}"}  # SendMessageBatch -> sqs:SendMessage
    raise AssertionError(f"no IAM action known for {service}.{operation}: add it to IAM_ALIASES")


def required_actions(usage: Usage) -> dict[str, str]:
    """IAM action -> where the code needs it."""
    needed: dict[str, str] = {}
    for service, operation in sorted(usage.calls):
        for action in iam_actions(service, operation, usage):
            needed.setdefault(action, usage.where[(service, operation)])
    return needed


# --------------------------------------------------------------------------------------------
# What the stage needs beyond code calls, and what the policies grant


def chalice_config() -> dict[str, Any]:
    return json.loads((CHALICE_DIR / "config.json").read_text(encoding="utf-8"))


def consumed_queues() -> set[str]:
    """Queue name suffixes of every ``@app.on_sqs_message(queue=deployed_name("..."))`` in app.py."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)):
                continue
            if deco.func.attr == "on_sqs_message":
                queue = next((k.value for k in deco.keywords if k.arg == "queue"), deco.args[0] if deco.args else None)
                assert (
                    isinstance(queue, ast.Call)
                    and getattr(queue.func, "id", None) == "deployed_name"
                    and isinstance(queue.args[0], ast.Constant)
                ), f"app.py:{deco.lineno}: name consumed queues with deployed_name('<suffix>')"
                found.add(str(queue.args[0].value))
    return found


def platform_actions(config: dict[str, Any], stage: str) -> dict[str, set[str]]:
    """IAM action -> resource patterns it must cover, for what Lambda does on the code's behalf."""
    # Chalice names the API function optout-<stage> and the others optout-<stage>-<handler>.
    groups = {
        f"arn:aws:logs:*:*:log-group:/aws/lambda/optout-{stage}",
        f"arn:aws:logs:*:*:log-group:/aws/lambda/optout-{stage}:*",
        f"arn:aws:logs:*:*:log-group:/aws/lambda/optout-{stage}-*",
    }
    needed: dict[str, set[str]] = {action: set(groups) for action in LOG_ACTIONS}
    xray = config["stages"][stage].get("xray", config.get("xray", False))
    if xray:
        needed.update({a: {"*"} for a in XRAY_ACTIONS})
    for suffix in consumed_queues():
        for action in EVENT_SOURCE_SQS_ACTIONS:
            needed.setdefault(action, set()).add(f"arn:aws:sqs:*:*:optout-{stage}-{suffix}")
    if stage in table_key_stages():
        needed.update({action: {ANY_KEY} for action in TABLE_KEY_ACTIONS})
    return needed


def _template() -> dict[str, Any]:
    """infra/template.yaml with every intrinsic function as {"!Tag": value} (evaluated below)."""

    class _Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {"!" + suffix: value}

    _Loader.add_multi_constructor("!", intrinsic)
    return yaml.load((ROOT / "infra" / "template.yaml").read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506


def condition_holds(template: dict[str, Any], expression: Any, stage: str) -> bool:
    """Evaluate a template condition (Equals / Or / And / Not / Condition over Ref Stage) for a stage."""
    if isinstance(expression, str):
        return condition_holds(template, template["Conditions"][expression], stage)
    (tag, value), *_ = expression.items()
    if tag == "!Condition":
        return condition_holds(template, value, stage)
    if tag == "!Equals":
        left, right = (stage if v == {"!Ref": "Stage"} else v for v in value)
        return bool(left == right)
    if tag == "!Or":
        return any(condition_holds(template, v, stage) for v in value)
    if tag == "!And":
        return all(condition_holds(template, v, stage) for v in value)
    if tag == "!Not":
        return not condition_holds(template, value[0], stage)
    raise AssertionError(f"condition {tag} not understood")


def table_key_stages() -> set[str]:
    """Stages (of STAGES) whose tables the template encrypts with its customer-managed key."""
    template = _template()
    key = next((n for n, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key"), None)
    if key is None:
        return set()
    return {s for s in STAGES if condition_holds(template, template["Resources"][key].get("Condition", "x"), s)}


def policy(stage: str) -> dict[str, Any]:
    name = chalice_config()["stages"][stage]["iam_policy_file"]
    return json.loads((CHALICE_DIR / name).read_text(encoding="utf-8"))


def statements(stage: str) -> list[dict[str, Any]]:
    found = policy(stage)["Statement"]
    return [found] if isinstance(found, dict) else found


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def grants(stage: str) -> dict[str, list[str]]:
    """IAM action -> resources, over the stage's Allow statements."""
    granted: dict[str, list[str]] = {}
    for statement in statements(stage):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            granted.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return granted


def template_names() -> dict[str, set[str]]:
    """Physical-name suffixes (after optout-${Stage}-) of tables, queues and topics in the template."""

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor(
        "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    )
    template = yaml.load((ROOT / "infra" / "template.yaml").read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    names: dict[str, set[str]] = {"table": set(), "queue": set(), "topic": set(), "bucket": set()}
    for resource in template["Resources"].values():
        kind = {
            "AWS::DynamoDB::Table": ("table", "TableName"),
            "AWS::SQS::Queue": ("queue", "QueueName"),
            "AWS::SNS::Topic": ("topic", "TopicName"),
            "AWS::S3::Bucket": ("bucket", "BucketName"),
        }.get(resource["Type"])
        if kind:
            names[kind[0]].add(resource["Properties"][kind[1]].removeprefix("optout-${Stage}-"))
    return names


# --------------------------------------------------------------------------------------------
# Tests


def test_scanner_finds_the_calls_it_is_meant_to_find():
    """The heuristic itself: a new ``scan(`` on a store's client is found (so the policy test can fail)."""
    # Given a store that starts scanning, a module publishing through a local client, and a paginator
    sources = {
        "store/x.py": "from chalicelib.store.aws import client\n"
        "class S:\n"
        "    def __init__(self):\n        self._ddb = client('dynamodb')\n"
        "    def all(self):\n        return self._ddb.scan(TableName='t')\n",
        "store/y.py": "def f(c):\n    sns = client('sns')\n"
        "    sns.publish_batch(TopicArn='a', PublishBatchRequestEntries=[])\n"
        "    client('ssm').get_paginator('get_parameters_by_path')\n",
        "services/z.py": "def g(services):\n    services.contacts._ddb.delete_item(TableName='t', Key={})\n"
        "    services.events.publish([])\n",
    }
    # When scanned
    usage = scan_sources(sources)
    # Then each client call is found, the wrapper's publish() is not, and IAM names are mapped
    assert usage.calls == {
        ("dynamodb", "Scan"),
        ("sns", "PublishBatch"),
        ("ssm", "GetParametersByPath"),
        ("dynamodb", "DeleteItem"),
    }
    assert set(required_actions(usage)) == {
        "dynamodb:Scan",
        "sns:Publish",
        "ssm:GetParametersByPath",
        "dynamodb:DeleteItem",
    }


def test_scan_of_the_real_code_is_not_empty():
    usage = scan_sources(code_sources())
    assert ("dynamodb", "GetItem") in usage.calls
    assert ("dynamodb", "TransactWriteItems") in usage.calls and usage.transact_kinds


def test_chalice_config_uses_the_policy_files_not_autogen():
    config = chalice_config()
    assert config["autogen_policy"] is False
    for stage in STAGES:
        assert config["stages"][stage].get("autogen_policy", False) is False
        assert config["stages"][stage]["iam_policy_file"] == f"policy-{stage}.json"
        assert "iam_role_arn" not in config["stages"][stage]


@pytest.mark.parametrize("stage", STAGES)
def test_every_action_the_code_calls_is_granted(stage: str):
    """Issue 5 least privilege: a new boto3 call without a grant fails here, naming the call site."""
    # Given every AWS operation the code calls
    needed = required_actions(scan_sources(code_sources()))
    # When compared with the stage's policy
    granted = grants(stage)
    missing = {action: where for action, where in needed.items() if action not in granted}
    # Then nothing is missing
    assert not missing, f"grant these in .chalice/policy-{stage}.json (called at): {missing}"


@pytest.mark.parametrize("stage", STAGES)
def test_platform_needs_are_granted_on_the_right_resources(stage: str):
    granted = grants(stage)
    for action, patterns in platform_actions(chalice_config(), stage).items():
        assert action in granted, f"{action} missing from policy-{stage}.json"
        for pattern in patterns:
            assert pattern in granted[action], f"{action} must cover {pattern}"


@pytest.mark.parametrize("stage", STAGES)
def test_nothing_is_granted_that_is_not_used(stage: str):
    """Exactly the actions used: an unused grant (left over or speculative) fails too."""
    used = set(required_actions(scan_sources(code_sources()))) | set(platform_actions(chalice_config(), stage))
    unused = set(grants(stage)) - used
    assert not unused, f"remove from .chalice/policy-{stage}.json (no code calls them): {sorted(unused)}"


@pytest.mark.parametrize("stage", STAGES)
def test_no_wildcard_actions_and_no_star_resource_beyond_xray(stage: str):
    known = iam_catalogue()
    for statement in statements(stage):
        assert "NotAction" not in statement and "NotResource" not in statement
        actions = _as_list(statement["Action"])
        for action in actions:
            assert "*" not in action and "?" not in action, f"wildcard action {action}"
            prefix, name = action.split(":")
            assert name.lower() in known[prefix], f"{action} is not an IAM action"
        if "*" in _as_list(statement["Resource"]):
            assert any(set(actions) <= allowed for allowed in STAR_RESOURCE_ACTIONS), (
                f"Resource '*' only for X-Ray or the SES suppression list (one statement each), not {actions}"
            )


@pytest.mark.parametrize("stage", STAGES)
def test_resources_are_the_stages_own(stage: str):
    """Every ARN names this stage's tables/queues/topics/parameters/log groups, all in the template."""
    names = template_names()
    allowed = (
        [f"arn:aws:dynamodb:*:*:table/optout-{stage}-{t}" for t in names["table"]]
        + [f"arn:aws:dynamodb:*:*:table/optout-{stage}-{t}/index/*" for t in names["table"]]
        + [f"arn:aws:sqs:*:*:optout-{stage}-{q}" for q in names["queue"]]
        + [f"arn:aws:sns:*:*:optout-{stage}-{t}" for t in names["topic"]]
        # Bucket names end in the account id (globally unique); its objects only.
        + [f"arn:aws:s3:::optout-{stage}-{b.replace('${AWS::AccountId}', '*')}/*" for b in names["bucket"]]
        + [f"arn:aws:ssm:*:*:parameter/optout/{stage}", f"arn:aws:ssm:*:*:parameter/optout/{stage}/*"]
        + [
            f"arn:aws:logs:*:*:log-group:/aws/lambda/optout-{stage}",
            f"arn:aws:logs:*:*:log-group:/aws/lambda/optout-{stage}:*",
            f"arn:aws:logs:*:*:log-group:/aws/lambda/optout-{stage}-*",
        ]
        + ["*"]
        + ([ANY_KEY] if stage in table_key_stages() else [])
    )
    for statement in statements(stage):
        for resource in _as_list(statement["Resource"]):
            if resource == ANY_KEY:  # only through DynamoDB, and only the stage's own table key
                assert statement["Condition"] == {
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": f"alias/optout-{stage}-tables"},
                    "StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"},
                }, statement["Sid"]
            assert resource in allowed, f"{resource} is not one of stage {stage}'s resources"
            service = resource.split(":")[2] if resource != "*" else _as_list(statement["Action"])[0].split(":")[0]
            assert all(a.startswith(service + ":") for a in _as_list(statement["Action"])), statement["Sid"]


def test_r14_deployed_stages_encrypt_every_table_with_their_own_key_and_protect_it():
    """Issue 11 (secrets at rest, point 12): on dev and prod every table (the workspaces table holds the
    Twilio and CRM secrets) is encrypted with the stage's customer-managed key and is protected from
    deletion on prod; the key is rotated, retained, and named by the alias the policies pin."""
    template = _template()
    resources = template["Resources"]
    assert table_key_stages() == {"dev", "prod"}
    key_name, key = next((n, r) for n, r in resources.items() if r["Type"] == "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    alias = next(r for r in resources.values() if r["Type"] == "AWS::KMS::Alias")
    assert alias["Properties"] == {
        "AliasName": {"!Sub": "alias/optout-${Stage}-tables"},
        "TargetKeyId": {"!Ref": key_name},
    }
    tables = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert {"WorkspacesTable", "JobsTable", "IdempotencyTable"} <= set(tables)
    for name, properties in tables.items():
        assert properties["DeletionProtectionEnabled"] == {"!If": ["IsProd", True, False]}, name
        sse = properties["SSESpecification"]["!If"]
        assert sse[0] == key["Condition"], name
        assert sse[1] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"!Ref": key_name}}, name
        assert sse[2] == {"!Ref": "AWS::NoValue"}, name
    for stage in STAGES:
        assert condition_holds(template, "IsProd", stage) is (stage == "prod")
        assert not condition_holds(template, key["Condition"], "local")


def test_prod_policy_is_dev_policy_for_its_own_stage():
    """One policy, two stages: the files differ only in the stage's names."""
    dev = json.dumps(policy("dev"), sort_keys=True)
    expected = dev.replace("optout-dev", "optout-prod").replace("/optout/dev", "/optout/prod")
    assert json.loads(expected) == policy("prod")


def test_ses_suppression_grant_is_its_own_statement_and_deployed_only_where_the_stage_turns_it_on():
    """Issue 16 point 5: the SES suppression-list actions are granted in one statement of their own,
    and the deploy copy of the stage's policy keeps it only with OPTOUT_SES_SUPPRESSION on."""
    from infra.deploy import SES_SUPPRESSION_SID, stage_policy

    for stage in STAGES:
        # Given the committed policy: the SES actions in exactly one statement, with nothing else
        [ses] = [s for s in statements(stage) if set(_as_list(s["Action"])) & SES_SUPPRESSION_ACTIONS]
        assert ses["Sid"] == SES_SUPPRESSION_SID and set(ses["Action"]) == SES_SUPPRESSION_ACTIONS
        assert ses["Resource"] == "*"
        # When deployed with the setting off (or unset), the statement is gone and nothing else is
        for environment in ({}, {"OPTOUT_SES_SUPPRESSION": "off"}, {"OPTOUT_SES_SUPPRESSION": ""}):
            deployed = stage_policy(policy(stage), environment)["Statement"]
            assert deployed == [s for s in statements(stage) if s["Sid"] != SES_SUPPRESSION_SID]
        # And with account or tenant scope the policy is the committed one
        for scope in ("account", "tenant"):
            assert stage_policy(policy(stage), {"OPTOUT_SES_SUPPRESSION": scope}) == policy(stage)
