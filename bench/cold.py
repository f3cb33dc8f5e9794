"""Cold start (issue 6, item 5): ``import app`` and reading its config in a fresh interpreter, as
the init of a Lambda instance of a deployed stage does, against importing boto3 and creating the
three clients the app uses.

Each side runs in its own new interpreter, alternately, ``runs`` times; the time is taken inside
the child around the import (interpreter start-up is the same for both and left out). Bytecode is
compiled once beforehand for both sides, into a private PYTHONPYCACHEPREFIX (whatever
PYTHONDONTWRITEBYTECODE says), so both import cached bytecode, as pip-installed packages do: the
figure is import work, not compilation.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# What a Lambda init of a deployed stage does: import the app, then read its config (R20 refuses to
# start there without the stage's secrets; ``check_deployed_start`` only runs it inside Lambda).
APP = """
import time
start = time.perf_counter()
import app
from chalicelib.config import get_config
get_config()
print(time.perf_counter() - start)
"""

# Secrets as SSM would provide them (not the development defaults, which a deployed stage refuses).
BENCH_SECRETS = {
    "OPTOUT_ADDRESS_KEY": "bench-address-key-not-a-real-secret",
    "OPTOUT_TOKEN_KEYS": "b1:bench-token-key-not-a-real-secret",
    "OPTOUT_ADMIN_KEY_SHA256": "0" * 64,
}

BOTO3 = """
import time
start = time.perf_counter()
import boto3
session = boto3.session.Session()
clients = [session.client(name) for name in ("dynamodb", "sqs", "sns")]
print(time.perf_counter() - start)
"""


def stage_env(stage: str = "dev") -> dict[str, str]:
    """A deployed stage's environment as the Lambda sees it: the variables .chalice/config.json gives
    the stage, OPTOUT_* from the data stack's outputs (names only; nothing is called at import), no
    SSM prefix (secrets are read on the first request, not at import), no endpoint override."""
    import json

    from chalicelib.config import SECRETS_PREFIX_ENV, TEMPLATE_OUTPUT_ENV

    chalice_config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    configured = {
        **chalice_config.get("environment_variables", {}),
        **chalice_config["stages"][stage].get("environment_variables", {}),
    }
    configured.pop(SECRETS_PREFIX_ENV, None)

    env = {
        k: v
        for k, v in os.environ.items()
        # PYTHONPYCACHEPREFIX (the Makefile's): Lambda reads the pycs beside the sources
        if not k.startswith(("OPTOUT_", "AWS_", "POWERTOOLS_")) and k not in ("PYTHONPATH", "PYTHONPYCACHEPREFIX")
    }
    account, region = "123456789012", "us-east-1"
    for output, variable in TEMPLATE_OUTPUT_ENV.items():
        if variable.endswith("_URL"):
            value = f"https://sqs.{region}.amazonaws.com/{account}/optout-{stage}-{output.lower()}"
        elif variable.endswith("_TOPIC"):
            value = f"arn:aws:sns:{region}:{account}:optout-{stage}-{output.lower()}"
        else:
            value = f"optout-{stage}-{output.lower()}"
        env[variable] = value
    env.update(
        {
            "OPTOUT_STAGE": stage,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    env.update(configured)
    return env


def _child(code: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure_cold_import(runs: int = 10) -> dict[str, Any]:
    import tempfile

    env = {**stage_env(), **BENCH_SECRETS}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="optout-bench-pycache-") as prefix:
        cached = {**env, "PYTHONPYCACHEPREFIX": prefix}
        _child(APP, cached)  # compile once: both sides then read cached bytecode
        _child(BOTO3, cached)
        results = _measure("cold_import", cached, runs)
    # Context: nothing cached, every module compiled on import, both sides. A bundle built by
    # ``chalice package``/``chalice deploy`` ships sources only (the dependencies' layer too) and
    # Lambda's /opt and /var/task are read-only, so that is what a cold instance of a deployed
    # stage does. Each run: an empty PYTHONPYCACHEPREFIX, nothing written back.
    with tempfile.TemporaryDirectory(prefix="optout-bench-nocache-") as empty:
        uncached = {**env, "PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}
        results.update(_measure("cold_import_compiling", uncached, max(2, runs // 3)))
    return results


def _measure(name: str, env: dict[str, str], runs: int) -> dict[str, Any]:
    app_s: list[float] = []
    boto_s: list[float] = []
    for _ in range(runs):
        app_s.append(_child(APP, env))
        boto_s.append(_child(BOTO3, env))
    app_ms, boto_ms = statistics.median(app_s) * 1e3, statistics.median(boto_s) * 1e3
    return {
        f"{name}_ratio": round(app_ms / boto_ms, 3),
        f"{name}_app_ms": round(app_ms, 1),
        f"{name}_boto3_clients_ms": round(boto_ms, 1),
        f"{name}_runs": runs,
    }


if __name__ == "__main__":
    print(measure_cold_import(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
