"""Dependencies point one way: hrm_cli -> hrm.train -> hrm.inference -> hrm.model,
hrm.datasets. Every import counts, also those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"model": "hrm.model", "datasets": "hrm.datasets", "inference": "hrm.inference",
            "train": "hrm.train", "hrm_cli": "hrm_cli"}
ALLOWED = {
    "hrm.model": {"hrm.model"},
    "hrm.datasets": {"hrm.datasets"},
    "hrm.inference": {"hrm.inference", "hrm.model", "hrm.datasets"},
    "hrm.train": {"hrm.train", "hrm.inference", "hrm.model", "hrm.datasets"},
    "hrm_cli": {"hrm_cli", "hrm.train", "hrm.inference", "hrm.model", "hrm.datasets"},
}


def our_imports(path: Path) -> set[str]:
    """The packages of ours (hrm.x or hrm_cli) that a module imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "hrm_cli":
                found.add("hrm_cli")
            elif parts[0] == "hrm" and len(parts) > 1 and f"hrm.{parts[1]}" in ALLOWED:
                found.add(f"hrm.{parts[1]}")
    return found


MODULES = [(PACKAGES[folder], path) for folder in PACKAGES
           for path in sorted((ROOT / folder).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), MODULES,
                         ids=[str(path.relative_to(ROOT)) for _, path in MODULES])
def test_imports_point_one_way(package, path):
    wrong = our_imports(path) - ALLOWED[package]
    assert not wrong, f"{path.relative_to(ROOT)} ({package}) imports {sorted(wrong)}"


def test_the_check_sees_function_local_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from hrm.train import loop\n")
    assert our_imports(module) == {"hrm.train"}
