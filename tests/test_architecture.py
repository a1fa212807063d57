"""The house rules of DESIGN.md, checked: imports point down the layers; heavy extras stay lazy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "zeroskip"

# What each part of the package may import of ours (DESIGN.md, "Suggested house").
ALLOWED = {
    "errors": set(),
    "config": {"errors"},
    "jit": set(),
    "formats": {"errors", "config", "jit"},
    "lang": {"errors", "config", "jit"},
    "dataflow": {"errors", "config", "jit", "formats"},
    "compiler": {"errors", "config", "jit", "formats", "lang", "dataflow"},
    "hardware": {"errors", "config", "jit", "formats", "dataflow"},
    "backends": {"errors", "config", "jit", "formats", "lang", "compiler", "dataflow"},
    "prune": {"errors", "config", "jit", "formats"},
    "nn": {"errors", "config", "jit", "formats", "lang", "compiler", "dataflow", "backends", "hardware", "prune"},
    "testing": {"errors", "config", "jit", "formats"},
    "bench": {"errors", "config", "jit", "formats", "lang", "compiler", "dataflow", "backends", "hardware", "prune",
              "nn", "testing"},
    "sweep": {"errors", "config", "jit", "formats", "lang", "compiler", "dataflow", "backends", "hardware", "bench"},
}
HEAVY = ("torch", "dask", "distributed", "matplotlib")


def _part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path):
    """(module imported, line, imported at module level?) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name, node.lineno, id(node) in top_level


MODULES = sorted(p for p in SRC.rglob("*.py") if _part(p) not in ("__init__", "__main__", "cli"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down_the_layers(path):
    part = _part(path)
    assert part in ALLOWED, f"{part} has no place in the layer table of this test: add it"
    for name, line, _ in _imports(path):
        if name.startswith("zeroskip."):
            target = name.split(".")[1]
            assert target == part or target in ALLOWED[part], f"{path.name}:{line} imports {name} ({part} -> {target})"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_heavy_extras_are_imported_only_where_used(path):
    if _part(path) == "nn":
        return  # the PyTorch layer is imported only by users who ask for it
    for name, line, module_level in _imports(path):
        assert not (module_level and name.split(".")[0] in HEAVY), f"{path.name}:{line} imports {name} at load time"


def test_import_zeroskip_stays_light():
    code = (
        "import sys, zeroskip, zeroskip.cli, zeroskip.formats.io, zeroskip.formats.stats, "
        "zeroskip.bench.datasets, zeroskip.testing\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
