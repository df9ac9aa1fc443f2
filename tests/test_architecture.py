"""The layout of DESIGN.md, enforced by reading imports with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "aggregator"
STAGES = ["fetch", "parse", "normalize", "dedupe", "tagging", "publish", "digest", "mailer"]
FORBIDDEN = set(STAGES) | {"store", "pipeline", "cli", "scheduler", "config", "web"}


def package_imports(path: Path) -> set[str]:
    """Names of aggregator modules imported by ``path`` (relative or absolute imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level >= 1:
                if mod:
                    found.add(mod.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif mod.startswith("aggregator."):
                found.add(mod.split(".")[1])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("aggregator."):
                    found.add(a.name.split(".")[1])
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_stage_modules_do_not_import_other_stages_store_or_pipeline(stage):
    path = PKG / f"{stage}.py"
    assert path.exists(), f"missing stage module {stage}.py"
    allowed = {"normalize"} if stage in ("dedupe", "tagging") else set()
    bad = (package_imports(path) & FORBIDDEN) - allowed - {stage}
    assert not bad, f"{stage}.py imports {sorted(bad)}"


def test_only_store_speaks_sql():
    offenders = []
    for path in PKG.rglob("*.py"):
        if path.name == "store.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "import sqlite3" in text or ".execute(" in text:
            offenders.append(path.name)
    assert not offenders, f"SQL outside store.py: {offenders}"


def test_models_and_errors_import_nothing_from_the_package():
    for name in ("models", "errors"):
        assert package_imports(PKG / f"{name}.py") == set()
