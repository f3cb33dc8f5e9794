"""Compiled bytecode for a Lambda zip, so a cold instance does not compile its Python on import.

``chalice package`` / ``chalice deploy`` zip sources only, and Lambda's /var/task and /opt are
read-only: without pycs in the bundle every cold start compiles every module it imports, in memory.
This adds ``__pycache__/<name>.<cache tag>.pyc`` beside each ``.py`` in the zip (the layer's too,
under ``python/lib/pythonX.Y/site-packages/``), made by ``py_compile`` as **unchecked hash-based**
pycs (PEP 552): the import system uses them whatever the source's mtime, which the zip (chalice
writes 1980-01-01 for every entry) and Lambda's extraction do not keep meaningful; the sources
stay in the zip beside them (tracebacks, ``inspect``).

Rules:
- refuses unless this interpreter's major.minor is the package's Lambda runtime (a pyc is
  specific to one minor version): ``Runtime`` from the ``sam.json`` beside the zip, the
  ``-pythonX.Y`` of a chalice-cached zip's name, or ``--runtime``;
- existing entries are copied unchanged (bytes, permissions, order); new entries go after them,
  in the order of their sources, dated 1980-01-01 with mode 0644 (chalice's own normalisation),
  so the same input gives the same zip;
- idempotent: a pyc already in the zip is left as it is;
- a source that does not compile (some packages ship py2-only test files) is skipped and counted;
- the zip is replaced atomically (written beside it, then renamed).

Usage: python -m infra.bytecode [--runtime python3.11] <zip> [<zip> ...]
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import py_compile
import re
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # chalice.utils.ChaliceZipFile's, for deterministic zips
PYC_MODE = 0o100644  # regular file, rw-r--r--
RUNTIME = re.compile(r"python(\d+)\.(\d+)")


class BytecodeError(Exception):
    """The zip cannot be given bytecode (wrong interpreter, unknown runtime, not a zip)."""


@dataclass
class Result:
    zip_path: Path
    compiled: int = 0
    present: int = 0
    present_checked: list[str] = field(default_factory=list)  # present, but validated against the source
    failed: list[str] = field(default_factory=list)
    size_before: int = 0
    size_after: int = 0
    unzipped_before: int = 0
    unzipped_after: int = 0

    def summary(self) -> str:
        mib = 1024 * 1024
        text = (
            f"{self.zip_path}: {self.compiled} pyc added, {self.present} already present, "
            f"{len(self.failed)} sources skipped (do not compile); "
            f"zip {self.size_before / mib:.1f} -> {self.size_after / mib:.1f} MiB, "
            f"unzipped {self.unzipped_before / mib:.1f} -> {self.unzipped_after / mib:.1f} MiB"
        )
        if self.failed:
            shown = ", ".join(self.failed[:5]) + (", ..." if len(self.failed) > 5 else "")
            text += f"\n  skipped: {shown}"
        if self.present_checked:
            shown = ", ".join(self.present_checked[:5]) + (", ..." if len(self.present_checked) > 5 else "")
            text += (
                f"\n  warning: {len(self.present_checked)} pycs already in the zip are timestamp or checked-hash "
                f"ones (left as they are; Python revalidates them and may compile on a cold start): {shown}"
            )
        return text


def runtime_of(zip_path: Path) -> str:
    """The Lambda runtime the zip is packaged for: sam.json beside it, else a chalice cache name."""
    template = zip_path.parent / "sam.json"
    if template.is_file():
        data = json.loads(template.read_text(encoding="utf-8"))
        runtimes = {
            str(r["Properties"]["Runtime"])
            for r in data.get("Resources", {}).values()
            if r.get("Type") == "AWS::Serverless::Function" and "Runtime" in r.get("Properties", {})
        }
        globals_runtime = data.get("Globals", {}).get("Function", {}).get("Runtime")
        if globals_runtime:
            runtimes.add(str(globals_runtime))
        if len(runtimes) == 1:
            return runtimes.pop()
        raise BytecodeError(f"{template}: expected one function Runtime, found {sorted(runtimes) or 'none'}")
    match = RUNTIME.search(zip_path.name)  # .chalice/deployments/<prefix><hash>-python3.11[-arch].zip
    if match:
        return match.group(0)
    raise BytecodeError(f"{zip_path}: no sam.json beside it and no pythonX.Y in its name; pass --runtime")


def check_interpreter(runtime: str) -> None:
    match = RUNTIME.fullmatch(runtime)
    if not match:
        raise BytecodeError(f"unsupported Lambda runtime {runtime!r} (expected pythonX.Y)")
    wanted = (int(match.group(1)), int(match.group(2)))
    running = sys.version_info[:2]
    if sys.implementation.name != "cpython" or running != wanted:
        raise BytecodeError(
            f"the package's Lambda runtime is {runtime} but this is {sys.implementation.name} "
            f"{running[0]}.{running[1]}: bytecode is specific to one Python version; "
            f"run with a Python {wanted[0]}.{wanted[1]} (chalice takes the runtime from the local Python)"
        )


def pyc_name(source: str) -> str:
    """``a/b.py`` -> ``a/__pycache__/b.cpython-311.pyc`` (the name the import system looks for)."""
    head, tail = posixpath.split(source)
    return posixpath.join(head, "__pycache__", f"{tail[:-3]}.{sys.implementation.cache_tag}.pyc")


def _unchecked(pyc: bytes) -> bool:
    """PEP 552 flags word: bit 0 hash-based, bit 1 check_source."""
    return len(pyc) >= 16 and int.from_bytes(pyc[4:8], "little") == 0b01


def _compile(source: bytes, name: str, workdir: Path) -> bytes | None:
    src, pyc = workdir / "source.py", workdir / "source.pyc"
    src.write_bytes(source)
    try:
        # dfile: the name in the zip, not the temporary path (the loader rewrites co_filename to the
        # real path on import anyway); optimize=0: Lambda runs without -O.
        py_compile.compile(
            str(src),
            cfile=str(pyc),
            dfile=name,
            doraise=True,
            optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError:
        return None
    return pyc.read_bytes()


def add_bytecode(zip_path: Path, runtime: str | None = None) -> Result:
    zip_path = Path(zip_path)
    check_interpreter(runtime or runtime_of(zip_path))
    if not zipfile.is_zipfile(zip_path):
        raise BytecodeError(f"{zip_path}: not a zip file")
    result = Result(zip_path, size_before=zip_path.stat().st_size)
    with zipfile.ZipFile(zip_path) as archive:
        entries = archive.infolist()
        names = {e.filename for e in entries}
        result.unzipped_before = sum(e.file_size for e in entries)
        sources = [e for e in entries if e.filename.endswith(".py") and not e.is_dir()]
        wanted = [(e, pyc_name(e.filename)) for e in sources]
        result.present = sum(1 for _, pyc in wanted if pyc in names)
        # e.g. a developer's __pycache__ that chalice zipped along with chalicelib/
        result.present_checked = [pyc for _, pyc in wanted if pyc in names and not _unchecked(archive.read(pyc))]
        todo = [(e, pyc) for e, pyc in wanted if pyc not in names]
        if not todo:
            result.size_after, result.unzipped_after = result.size_before, result.unzipped_before
            return result
        compiled: list[tuple[str, bytes]] = []
        with tempfile.TemporaryDirectory(prefix="optout-bytecode-") as work:
            for entry, pyc in todo:
                data = _compile(archive.read(entry), entry.filename, Path(work))
                if data is None:
                    result.failed.append(entry.filename)
                else:
                    compiled.append((pyc, data))
    if compiled:
        fd, tmp_name = tempfile.mkstemp(prefix=zip_path.name + ".", suffix=".tmp", dir=zip_path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(zip_path, tmp)
            with zipfile.ZipFile(tmp, "a") as archive:  # appends: existing entries are not rewritten
                for pyc, data in compiled:
                    info = zipfile.ZipInfo(pyc, ZIP_DATE)
                    info.create_system = 3  # Unix, so the mode below is honoured
                    info.external_attr = PYC_MODE << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, data)
            shutil.copymode(zip_path, tmp)
            os.replace(tmp, zip_path)
        finally:
            tmp.unlink(missing_ok=True)
    result.compiled = len(compiled)
    result.size_after = zip_path.stat().st_size
    result.unzipped_after = result.unzipped_before + sum(len(data) for _, data in compiled)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bytecode", description=__doc__.split("\n\n")[0])
    parser.add_argument("zips", nargs="+", type=Path, help="Lambda deployment or layer zips")
    parser.add_argument("--runtime", help="the Lambda runtime, e.g. python3.11 (default: sam.json beside the zip)")
    args = parser.parse_args(argv)
    try:
        for zip_path in args.zips:
            print(add_bytecode(zip_path, args.runtime).summary(), flush=True)
    except (BytecodeError, OSError, zipfile.BadZipFile, json.JSONDecodeError, KeyError) as exc:
        raise SystemExit(f"infra.bytecode: {exc}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
