"""Project rules: `harness` does not import `methods` (only its entry points load the plug-ins); ruff passes."""

import ast
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def test_harness_does_not_import_methods():
    offenders = []
    for path in sorted((ROOT / "harness").glob("*.py")):
        if path.name in ("run.py", "inspect.py"):  # the entry points load the plug-ins
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "methods" or n.startswith("methods.")]
    assert offenders == []


def test_ruff_passes():
    ruff = shutil.which("ruff") or (shutil.which("ruff", path=str(ROOT / ".venv" / "bin")))
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    out = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_loaded_harness_modules_do_not_pull_in_methods():
    code = ("import sys; import harness.config, harness.runner, harness.loop; "
            "print(any(m == 'methods' or m.startswith('methods.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
