"""Project rules: the layer order of every package, no twin module names, no module named after a
standard-library module, a docstring in every package, and ruff. Each check is a function of a source tree,
shown to pass on the repository and to fail on a tree with the violation injected."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGES = ("harness", "methods", "studies", "grid", "benchmarks")
# Lowest first: a module may import its own layer and the layers before it, never one after it.
LAYERS = (
    ("harness.core",),
    ("harness.data",),
    ("harness.models",),
    ("harness.config",),
    ("harness.training",),
    ("harness.execution",),
    ("methods", "studies"),  # plug-ins (the repository's and those studies bring): the training layer's interfaces
    ("harness.run", "harness.describe"),  # the command lines: the only part of harness that loads the plug-ins
    ("grid",),  # the suite machinery
    ("benchmarks",),  # the paper's suites and the speed benchmarks
)
# Names that say the same thing: two modules whose names reduce to one of these are twins.
SYNONYMS = {"dataset": "data", "datasets": "data", "setting": "config", "settings": "config",
            "configuration": "config", "configurations": "config"}
SUFFIXES = ("ations", "ation", "ions", "ion", "ings", "ing", "ers", "er", "ors", "or", "es", "s", "e")


def modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module of the project's packages under `root`."""
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def layer(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def imported(path: Path) -> list[str]:
    """Every project module a file imports, at the top or inside a function (`from a import b` counts as
    `a.b`, which is `a` or one of its modules)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{a.name}" for a in node.names]
    return [n for n in names if n.split(".")[0] in PACKAGES]


def layer_violations(root: Path) -> list[str]:
    found = modules(root)
    out = []
    for name, path in found.items():
        own = 0 if name == "harness" else layer(name)  # the engine's own __init__ stands under everything
        if own is None:
            out.append(f"{name}: in no layer (add it to LAYERS)")
            continue
        for target in imported(path):
            rank = layer(target)
            if rank is not None and rank > own:
                out.append(f"{name} imports {target}: layer {LAYERS[rank][0]} is above {LAYERS[own][0]}")
    return out


def stem(name: str) -> str:
    name = name.lower().lstrip("_")
    name = SYNONYMS.get(name, name)
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 3:
            name = name[: -len(suffix)]
            break
    if len(name) > 3 and name[-1] == name[-2]:
        name = name[:-1]  # runn -> run
    return name


def twins(root: Path) -> list[str]:
    """Modules or packages in one top-level package whose names say the same thing (run and runner, data and
    datasets, config and settings), and modules of the engine named like another top-level package (method
    and methods)."""
    out = []
    for package in PACKAGES:
        seen: dict[str, str] = {}
        for name in modules(root):
            parts = name.split(".")
            if parts[0] != package or len(parts) == 1:
                continue
            short = parts[-1]
            key = stem(short)
            other = seen.setdefault(key, name)
            if other != name:
                out.append(f"{other} and {name}")
            if package == "harness" and key in {stem(p) for p in PACKAGES if p != "harness"}:
                out.append(f"{name} and the {short!r}-like top-level package")
    return sorted(set(out))


def standard_library_names(root: Path) -> list[str]:
    return [name for name in modules(root) if name.split(".")[-1] in sys.stdlib_module_names]


def packages_without_docstring(root: Path) -> list[str]:
    out = []
    for package in PACKAGES:
        for init in sorted((root / package).rglob("__init__.py")):
            if not ast.get_docstring(ast.parse(init.read_text())):
                out.append(str(init.relative_to(root)))
    return out


# -- the repository holds every rule ---------------------------------------------------------------------


def test_every_import_goes_down_the_layers():
    assert layer_violations(ROOT) == []


def test_no_twin_module_names():
    assert twins(ROOT) == []


def test_no_module_is_named_after_a_standard_library_module():
    assert standard_library_names(ROOT) == []


def test_every_package_says_its_job():
    assert packages_without_docstring(ROOT) == []


def test_the_loaded_engine_does_not_pull_in_the_plug_ins():
    code = ("import sys; import harness.config, harness.execution.run_folder, harness.training.loop; "
            "print(any(m == 'methods' or m.startswith('methods.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_ruff_passes():
    ruff = shutil.which("ruff") or (shutil.which("ruff", path=str(ROOT / ".venv" / "bin")))
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    out = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# -- each check fails on an injected violation -----------------------------------------------------------


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A copy of the project's packages with `files` added or replaced."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("name, text, expected", [
    ("harness/core/bad.py", '"""x"""\nfrom harness.training import loop\n',
     "harness.core.bad imports harness.training"),
    ("harness/training/bad.py", '"""x"""\nimport methods\n', "harness.training.bad imports methods"),
    ("harness/data/bad.py", '"""x"""\ndef f():\n    from harness.execution.run_folder import execute\n',
     "harness.data.bad imports harness.execution"),
    ("methods/bad.py", '"""x"""\nfrom harness import run\n', "methods.bad imports harness.run"),
    ("grid/bad.py", '"""x"""\nfrom benchmarks import table2\n', "grid.bad imports benchmarks"),
    ("harness/elsewhere/bad.py", '"""x"""\n', "harness.elsewhere.bad: in no layer"),
])
def test_an_upward_import_is_caught(tmp_path, name, text, expected):
    found = layer_violations(tree(tmp_path, {name: text}))
    assert any(v.startswith(expected) for v in found), found


@pytest.mark.parametrize("name", ["harness/runner.py", "harness/execution/executor.py", "harness/datasets.py",
                                  "harness/configuration.py",
                                  "harness/method.py", "grid/suites.py", "harness/training/run.py"])
def test_a_twin_name_is_caught(tmp_path, name):
    assert twins(tree(tmp_path, {name: '"""x"""\n'})) != []


def test_a_standard_library_name_is_caught(tmp_path):
    found = standard_library_names(tree(tmp_path, {"harness/core/inspect.py": '"""x"""\n',
                                                   "methods/coresets/random.py": '"""x"""\n'}))
    assert found == ["harness.core.inspect", "methods.coresets.random"]


def test_a_package_without_a_docstring_is_caught(tmp_path):
    found = packages_without_docstring(tree(tmp_path, {"harness/training/__init__.py": "import torch\n"}))
    assert found == ["harness/training/__init__.py"]


def test_the_layer_table_names_every_package_of_the_engine():
    packages = {p.parent.name for p in (ROOT / "harness").glob("*/__init__.py")}
    named = {m.split(".")[1] for prefixes in LAYERS for m in prefixes if m.startswith("harness.")}
    assert packages <= named
    assert all(re.fullmatch(r"[a-z_]+", p) for p in packages)
