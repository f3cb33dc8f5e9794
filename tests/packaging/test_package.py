"""Offline verification (issue 5, SPEC "Deploy"): ``chalice package`` succeeds with no AWS credentials
and no reachable AWS endpoint, and its SAM template plus infra/template.yaml pass cfn-lint.

Same commands as ``make package``. The dependency layer is built once per requirements.txt and
cached by Chalice in .chalice/deployments/ (a cold cache downloads the wheels from PyPI once).

Then, as ``make package`` does, infra/bytecode.py adds compiled bytecode to the dev stage's zips
(the prod stage's are the same code; compiling the layer twice would only cost time), and the
bundle, laid out as Lambda lays it out, imports the app from those pycs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bench.cold import stage_env
from infra import bytecode

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STAGES = ("dev", "prod")


def queue_visibility_timeouts() -> dict[str, int]:
    """Queue name suffix (after optout-${Stage}-) -> its VisibilityTimeout in infra/template.yaml."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor(
        "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    )
    template = yaml.load((ROOT / "infra" / "template.yaml").read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    return {
        r["Properties"]["QueueName"].removeprefix("optout-${Stage}-"): int(r["Properties"].get("VisibilityTimeout", 30))
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SQS::Queue"
    }


def offline_env(stage: str) -> dict[str, str]:
    """No credentials anywhere, and any AWS call would fail at once (a closed local port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("OPTOUT_")}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "OPTOUT_STAGE": stage,
        }
    )
    return env


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("package")
    templates: dict[str, Path] = {}
    for stage in STAGES:
        target = out / stage
        result = subprocess.run(
            [str(BIN / "chalice"), "package", "--stage", stage, str(target)],
            cwd=ROOT,
            env=offline_env(stage),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        templates[stage] = target / "sam.json"
    return templates


def resources(template: Path, kind: str) -> dict[str, dict[str, Any]]:
    data = json.loads(template.read_text(encoding="utf-8"))
    return {name: r for name, r in data["Resources"].items() if r["Type"] == kind}


def test_chalice_package_passes_cfn_lint_with_the_data_stack(packaged: dict[str, Path]):
    # Given both stages packaged without an AWS account
    # When cfn-lint checks them and the data stack
    result = subprocess.run(
        [str(BIN / "cfn-lint"), *(str(p) for p in packaged.values()), str(ROOT / "infra" / "template.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then there is nothing to report
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_event_sources_are_the_stages_own_topic_and_queues(packaged: dict[str, Path], stage: str):
    """SES->SNS subscription and SQS event sources are declared by Chalice from the decorators, on the
    resources of the stage being packaged (not another stage's)."""
    functions = resources(packaged[stage], "AWS::Serverless::Function")
    sources = [
        e
        for f in functions.values()
        for e in (f["Properties"].get("Events") or {}).values()
        if e["Type"] in ("SNS", "SQS")
    ]
    arns = [json.dumps(e["Properties"].get("Topic") or e["Properties"].get("Queue")) for e in sources]
    assert any(f":optout-{stage}-ses-notifications" in a for a in arns), arns
    assert any(f":optout-{stage}-crm-writeback" in a for a in arns), arns
    assert all(f":optout-{stage}-" in a for a in arns), arns


@pytest.mark.parametrize("stage", STAGES)
def test_functions_use_the_policy_file_trace_and_fit_the_queue_timeouts(packaged: dict[str, Path], stage: str):
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text(encoding="utf-8"))
    for role in resources(packaged[stage], "AWS::IAM::Role").values():
        documents = [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
        assert documents == [policy]
    for name, function in resources(packaged[stage], "AWS::Serverless::Function").items():
        properties = function["Properties"]
        assert properties["Tracing"] == "Active", name
        assert properties["Environment"]["Variables"]["OPTOUT_STAGE"] == stage
        assert properties["Environment"]["Variables"]["OPTOUT_SECRETS_SSM_PREFIX"] == f"/optout/{stage}"
        for event in (properties.get("Events") or {}).values():
            if event["Type"] != "SQS":
                continue
            # Lambda refuses an SQS event source whose function outlives the queue's visibility timeout.
            queue = json.dumps(event["Properties"]["Queue"]).split(f"optout-{stage}-", 1)[1].split('"', 1)[0]
            assert properties["Timeout"] <= queue_visibility_timeouts()[queue], name


# -- compiled bytecode (infra/bytecode.py, run by make package) ---------------------------------------

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"  # chalice derives it from this Python
SITE_PACKAGES = f"python/lib/{RUNTIME}/site-packages"  # chalice's layer prefix; Lambda adds it to sys.path
PYC = f".{sys.implementation.cache_tag}.pyc"


@pytest.fixture(scope="module")
def bytecoded(packaged: dict[str, Path]) -> dict[str, Any]:
    """The dev stage's zips after ``make package``'s bytecode step (the same command line)."""
    stage_dir = packaged["dev"].parent
    zips = [stage_dir / "deployment.zip", stage_dir / "layer-deployment.zip"]
    result = subprocess.run(
        [sys.executable, "-m", "infra.bytecode", *map(str, zips)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {"app": zips[0], "layer": zips[1], "output": result.stdout}


def zip_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def test_both_zips_ship_unchecked_hash_bytecode_beside_the_sources(bytecoded: dict[str, Any]):
    # Given make package's zips
    app, layer = zip_names(bytecoded["app"]), zip_names(bytecoded["layer"])
    # Then the app, chalicelib and chalice's runtime have a pyc beside each source
    app_sources = {n for n in app if n.endswith(".py")}
    assert {"app.py", "chalice/app.py", "chalicelib/config.py", "chalicelib/api/__init__.py"} <= app_sources
    missing = {n for n in app_sources if bytecode.pyc_name(n) not in app}
    assert not missing
    assert f"__pycache__/app{PYC}" in app and f"chalicelib/__pycache__/config{PYC}" in app
    # And so do the layer's dependencies
    for module in ("pydantic/main", "boto3/session", "botocore/client", "aws_lambda_powertools/logging/logger"):
        assert f"{SITE_PACKAGES}/{module}.py" in layer
        head, _, tail = module.rpartition("/")
        assert f"{SITE_PACKAGES}/{head}/__pycache__/{tail}{PYC}" in layer, module
    # And each pyc is hash-based and unchecked (PEP 552 flags == 0b01): used whatever the mtimes
    with zipfile.ZipFile(bytecoded["layer"]) as archive:
        data = archive.read(f"{SITE_PACKAGES}/pydantic/__pycache__/main{PYC}")
        info = archive.getinfo(f"{SITE_PACKAGES}/pydantic/__pycache__/main{PYC}")
    assert int.from_bytes(data[4:8], "little") == 0b01
    assert (info.external_attr >> 16) & 0o777 == 0o644
    assert re.search(r"layer-deployment\.zip: \d+ pyc added", bytecoded["output"])


def test_the_lambda_layout_imports_the_app_from_the_shipped_bytecode(bytecoded: dict[str, Any], tmp_path: Path):
    """What a cold instance does: function at /var/task, layer at /opt, both read-only (nothing written
    back), a deployed stage's environment. ``python -v`` names the file each module's code came from."""
    # Given both zips extracted as Lambda extracts them
    with zipfile.ZipFile(bytecoded["app"]) as archive:
        archive.extractall(tmp_path / "task")
    with zipfile.ZipFile(bytecoded["layer"]) as archive:
        archive.extractall(tmp_path / "opt")
    env = {
        **stage_env("dev"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(["task", f"opt/{SITE_PACKAGES}", "opt/python"]),
    }
    # When a fresh interpreter without the venv's site-packages (-S) imports the app
    result = subprocess.run(
        [sys.executable, "-S", "-v", "-c", "import app, pydantic.main"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Then every module of the bundle came from a shipped pyc, and none was compiled from source
    bundle = str(tmp_path)
    loaded = re.findall(r"^# code object from '(.+)'$", result.stderr, re.MULTILINE)
    compiled = re.findall(r"^# code object from ([^'].*)$", result.stderr, re.MULTILINE)
    assert [p for p in compiled if p.startswith(bundle)] == []
    ours = [p for p in loaded if p.startswith(bundle)]
    assert f"{bundle}/task/__pycache__/app{PYC}" in ours
    assert f"{bundle}/task/chalicelib/__pycache__/config{PYC}" in ours
    assert f"{bundle}/opt/{SITE_PACKAGES}/pydantic/__pycache__/main{PYC}" in ours
    assert f"{bundle}/opt/{SITE_PACKAGES}/boto3/__pycache__/session{PYC}" in ours
    assert sum("/task/chalicelib/" in p for p in ours) >= 20, ours


def test_adding_bytecode_twice_adds_nothing(bytecoded: dict[str, Any]):
    # Given zips that already carry bytecode
    before = {k: hashlib.sha256(bytecoded[k].read_bytes()).hexdigest() for k in ("app", "layer")}
    # When the step runs again
    results = [bytecode.add_bytecode(bytecoded[k]) for k in ("app", "layer")]
    # Then nothing is added and the zips are byte for byte the same
    assert [r.compiled for r in results] == [0, 0]
    assert all(r.present > 0 for r in results)
    assert {k: hashlib.sha256(bytecoded[k].read_bytes()).hexdigest() for k in ("app", "layer")} == before


def test_bytecode_for_another_python_is_refused(bytecoded: dict[str, Any], tmp_path: Path):
    # Given a package whose sam.json names a runtime other than this interpreter's
    other = f"python{sys.version_info.major}.{sys.version_info.minor + 1}"
    package = tmp_path / "package"
    package.mkdir()
    shutil.copy(bytecoded["app"].parent / "sam.json", package / "sam.json")
    (package / "sam.json").write_text(
        (package / "sam.json").read_text(encoding="utf-8").replace(f'"{RUNTIME}"', f'"{other}"'), encoding="utf-8"
    )
    with zipfile.ZipFile(package / "deployment.zip", "w") as archive:
        archive.writestr("app.py", "import json\n")
    before = (package / "deployment.zip").read_bytes()
    # When make package's step runs on it
    result = subprocess.run(
        [sys.executable, "-m", "infra.bytecode", str(package / "deployment.zip")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it fails naming both versions, and the zip is untouched
    assert result.returncode != 0
    assert other in result.stderr and f"{sys.version_info.major}.{sys.version_info.minor}" in result.stderr
    assert (package / "deployment.zip").read_bytes() == before


def test_sources_that_do_not_compile_are_skipped_and_counted(tmp_path: Path):
    # Given a layer zip with a py2-only file among good ones, an executable entry, and a module whose
    # (timestamp-based) pyc is already there, e.g. from a developer's __pycache__
    stale = importlib.util.MAGIC_NUMBER + bytes(12)
    layer = tmp_path / f"managed-layer-0-{RUNTIME}.zip"
    with zipfile.ZipFile(layer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{SITE_PACKAGES}/good.py", "VALUE = 1\n")
        archive.writestr(f"{SITE_PACKAGES}/pkg/tests/py2.py", "print 'hello'\n")
        script = zipfile.ZipInfo(f"{SITE_PACKAGES}/tool.py", (1980, 1, 1, 0, 0, 0))
        script.external_attr = 0o100755 << 16
        archive.writestr(script, "#!/usr/bin/env python\n")
        archive.writestr(f"{SITE_PACKAGES}/old.py", "OLD = 1\n")
        archive.writestr(f"{SITE_PACKAGES}/__pycache__/old{PYC}", stale)
    # When bytecode is added (the runtime read from the chalice cache name)
    result = bytecode.add_bytecode(layer)
    # Then the good sources get pycs, the bad one is skipped and counted, the old entries are unchanged
    assert (result.compiled, result.failed) == (2, [f"{SITE_PACKAGES}/pkg/tests/py2.py"])
    assert "1 sources skipped" in result.summary()
    # And the pyc already there is left as it is, but reported as one Python will revalidate
    assert (result.present, result.present_checked) == (1, [f"{SITE_PACKAGES}/__pycache__/old{PYC}"])
    with zipfile.ZipFile(layer) as archive:
        names = archive.namelist()
        assert names[:3] == [f"{SITE_PACKAGES}/{n}.py" for n in ("good", "pkg/tests/py2", "tool")]
        assert (archive.getinfo(f"{SITE_PACKAGES}/tool.py").external_attr >> 16) == 0o100755
        assert f"{SITE_PACKAGES}/__pycache__/good{PYC}" in names
        assert not any("py2" in n and n.endswith(".pyc") for n in names)
        assert archive.read(f"{SITE_PACKAGES}/__pycache__/old{PYC}") == stale
