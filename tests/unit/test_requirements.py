"""requirements.txt (what chalice packages into the Lambda bundle) pins exactly the runtime dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#]+)\s*$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _pins(lines: list[str], origin: str) -> set[tuple[str, str]]:
    pins: set[tuple[str, str]] = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"{origin}: {line!r} is not an exact pin (name==version)"
        pins.add((_normalize(match.group(1)), match.group(3)))
    return pins


def test_requirements_txt_lists_exactly_the_runtime_pins():
    # Given the runtime dependencies declared in pyproject.toml
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = _pins(project["dependencies"], "pyproject.toml [project].dependencies")

    # When requirements.txt is read
    listed = _pins((ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines(), "requirements.txt")

    # Then both name the same packages at the same versions
    assert listed == declared, (
        f"only in requirements.txt: {sorted(listed - declared)}; only in pyproject: {sorted(declared - listed)}"
    )
