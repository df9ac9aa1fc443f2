"""The one Jinja2 environment factory for the page and the digest.

Templates ship in one copy: the repository's top-level ``templates/``, installed as the package
data ``aggregator/templates`` (see ``pyproject.toml``). An operator's folder, when configured and
present, is searched first, so a template can be overridden one file at a time; the others
keep following the packaged defaults.

Autoescape is on for HTML (``*.html.j2``, ``*.html``) and off for the plain-text digest;
``StrictUndefined`` everywhere, so a typo in a template fails loudly instead of printing "".
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import jinja2


def packaged_templates() -> Path:
    """Where the default templates are: inside the installed package, or, in a source checkout
    that was not installed, the repository's ``templates/``."""
    installed = Path(str(resources.files("aggregator"))) / "templates"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "templates"


def environment(*override_dirs: Path | None) -> jinja2.Environment:
    """An environment searching ``override_dirs`` (those that exist) and then the defaults."""
    search: Sequence[Path] = [Path(d) for d in override_dirs if d is not None and Path(d).is_dir()]
    loader = jinja2.FileSystemLoader([str(p) for p in (*search, packaged_templates())])
    return jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "html.j2", "xml"), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


__all__ = ["environment", "packaged_templates"]
