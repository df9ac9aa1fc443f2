"""The rules of ARCHITECTURE.md, enforced by reading the source with ast.

- stages do not import each other, the store or the service layer;
- only ``store/`` speaks SQL;
- one owner per rule: text rules in ``text``, the clock in ``clock``, atomic writes in ``files``,
  the Jinja environment in ``templating``, "is this date believable" in ``models.Item`` (no
  second copy may be defined elsewhere);
- every package names its public surface; no test module imports another.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "aggregator"
TESTS = ROOT / "tests"
STAGES = ["fetch", "parse", "normalize", "dedupe", "tagging", "publish", "digest", "mailer"]
SERVICE = {"store", "service", "pipeline", "scheduler", "cli", "web", "config"}
#: Stages may use these shared modules (and models, errors, settings).
SHARED = {
    "models",
    "errors",
    "settings",
    "text",
    "clock",
    "files",
    "templating",
    "sanitize",
    "site",
    "i18n",
}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _top(path: Path) -> str:
    """The first-level name under aggregator/ a file belongs to: 'fetch' for fetch/client.py."""
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def package_imports(path: Path) -> set[str]:
    """First-level aggregator names imported by ``path`` (relative or absolute imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth = len(path.relative_to(PKG).parts) - 1  # 0 for aggregator/x.py
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level >= 1:
                up = node.level - 1  # levels above the file's own package
                if up < depth:  # stays inside the file's own top-level package
                    found.add(_top(path))
                    continue
                if mod:
                    found.add(mod.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif mod.startswith("aggregator."):
                found.add(mod.split(".")[1])
            elif mod == "aggregator":
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("aggregator."):
                    found.add(a.name.split(".")[1])
    return found


def _stage_files(stage: str) -> list[Path]:
    return [p for p in _modules() if _top(p) == stage]


@pytest.mark.parametrize("stage", STAGES)
def test_stages_do_not_import_other_stages_the_store_or_the_service_layer(stage: str) -> None:
    files = _stage_files(stage)
    assert files, f"missing stage {stage}"
    allowed = {stage} | SHARED
    if stage in ("dedupe", "tagging"):
        allowed |= {"normalize"}  # canonical URLs and item keys
    if stage == "parse":
        allowed |= {"normalize"}
    bad = {
        p.relative_to(PKG).as_posix(): sorted(package_imports(p) - allowed)
        for p in files
        if package_imports(p) - allowed
    }
    assert not bad, f"{stage} imports {bad}"


def test_shared_modules_import_nothing_above_them() -> None:
    """models, errors, clock, files, templating and text are the floor: they import nothing of
    the package but each other's types."""
    floor = {"models": set(), "errors": set(), "clock": set(), "files": set(),
             "templating": set(), "text": set(), "settings": {"models"}, "site": set()}  # fmt: skip
    for name, allowed in floor.items():
        path = PKG / f"{name}.py"
        assert path.exists(), name
        assert package_imports(path) <= allowed, f"{name}.py imports {package_imports(path)}"


def test_only_the_store_speaks_sql() -> None:
    offenders = []
    sql = re.compile(r"import sqlite3|\.execute(many)?\(|\bSELECT\b .* \bFROM\b|\bINSERT INTO\b")
    for path in _modules():
        if _top(path) == "store":
            continue
        if sql.search(path.read_text(encoding="utf-8")):
            offenders.append(path.relative_to(PKG).as_posix())
    assert not offenders, f"SQL outside store/: {offenders}"


# ---- one owner per rule ------------------------------------------------------------------------

#: function names that only their owner may define
OWNED_FUNCTIONS = {
    "text": {"fold", "plain_text", "strip_tags", "html_to_text", "is_rtl", "script_language",
             "strip_footer", "clean_chars", "excerpt", "words", "one_line", "strip_marks",
             "_looks_rtl", "looks_rtl", "strip_caption", "display_excerpt"},
    "clock": {"utcnow", "utc_now", "_now", "now_utc"},
    "files": {"write_atomic", "_write_atomic", "fsync_dir", "_fsync_dir", "atomic_write"},
    "templating": {"environment", "_environment"},
    "models": {"believable", "_believable", "believable_date", "own_date", "_own_date"},
}  # fmt: skip
#: source patterns that only their owner may contain
OWNED_PATTERNS = {
    "clock": re.compile(r"datetime\.now\(|datetime\.utcnow\("),
    "files": re.compile(r"os\.replace\(|os\.rename\("),
    "templating": re.compile(r"jinja2\.Environment\(|\bEnvironment\("),
    # "is this date believable": Item.own_date / Item.believable and their FUTURE_TOLERANCE
    "models": re.compile(r"\bFUTURE_TOLERANCE\s*[:=]"),
    # a character range of the Arabic block written as an escape or as the letters themselves
    "text": re.compile(r"\\u06[0-9a-fA-F]{2}-|\\u0590-|[\u0600-\u06ff]-[\u0600-\u06ff]"),
}


def _defined_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("owner", sorted(OWNED_FUNCTIONS))
def test_no_module_defines_its_own_copy_of_an_owned_rule(owner: str) -> None:
    copies = {}
    for path in _modules():
        if _top(path) == owner:
            continue
        mine = _defined_functions(path) & OWNED_FUNCTIONS[owner]
        if mine:
            copies[path.relative_to(PKG).as_posix()] = sorted(mine)
    assert not copies, f"copies of {owner}'s functions: {copies} (use aggregator.{owner})"


@pytest.mark.parametrize("owner", sorted(OWNED_PATTERNS))
def test_no_module_reimplements_an_owned_rule(owner: str) -> None:
    copies = []
    for path in _modules():
        if _top(path) == owner:
            continue
        if OWNED_PATTERNS[owner].search(path.read_text(encoding="utf-8")):
            copies.append(path.relative_to(PKG).as_posix())
    assert not copies, f"{owner}'s rule reimplemented in {copies} (use aggregator.{owner})"


def test_the_architecture_test_would_catch_a_copy(tmp_path: Path) -> None:
    """The detectors above are not vacuous: they see a planted copy."""
    planted = tmp_path / "x.py"
    planted.write_text(
        "import os\nfrom datetime import datetime\n"
        "def fold(t): return t\n"
        "def stamp(): return datetime.now()\n"
        "def put(a, b): os.replace(a, b)\n"
        "ARABIC = '[\\\\u0600-\\\\u06ff]'\n"
        "FUTURE_TOLERANCE = 3600\n",
        encoding="utf-8",
    )
    assert "fold" in _defined_functions(planted) & OWNED_FUNCTIONS["text"]
    source = planted.read_text(encoding="utf-8")
    assert all(OWNED_PATTERNS[k].search(source) for k in ("clock", "files", "text", "models"))


# ---- packages and tests --------------------------------------------------------------------


def test_every_package_names_its_public_surface() -> None:
    for init in PKG.rglob("__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{init.relative_to(ROOT)} has no docstring"
        if init.parent == PKG:
            continue
        names = {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        assert "__all__" in names, f"{init.relative_to(ROOT)} has no __all__"


def test_one_copy_of_the_templates() -> None:
    """templates/ at the top is the only source; the package gets it at install time."""
    assert (ROOT / "templates" / "digest.html.j2").exists()
    assert not (PKG / "templates").exists(), "aggregator/templates/ is a second copy"


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in TESTS.glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = re.findall(r"(?:from|import)\s+([\w.]+)", node.value)
            if any(n.split(".")[-1].startswith("test_") for n in names):
                offenders.append(path.name)
    assert not offenders, f"test modules importing others: {offenders} (use tests/support/)"


def test_the_packaged_list_matches_the_packages_on_disk() -> None:
    """pyproject.toml lists the packages by hand (templates/ is mapped into the package): a
    package added on disk but not listed would be missing from every install."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in PKG.rglob("__init__.py")}
    assert listed - {"aggregator.templates"} == on_disk
    assert config["setuptools"]["package-dir"]["aggregator.templates"] == "templates"
