"""Sources to and from OPML, the list format every feed reader exports.

Export writes OPML 2.0: a folder outline per tag (a source goes in the folder of its first tag;
consecutive sources of one folder share it, so the config's order is kept), one ``type="rss"``
outline per source, tags as ``category``, a source's ``prior`` as the categories
``/prior/<tag>``. Import reads OPML 1.0/2.0 as newsboat, Miniflux and FreshRSS write it:
folders become tags when their name's slug is one (ai, africa, a country, a topic); bookmark
outlines (``type="link"``), outlines without a feed URL and scrapers are skipped with a line
each; a nameless feed is named after its own title, fetched once with the config's fetch
settings. New feeds are inserted as text after the last source: the operator's comments, order,
quoting and indentation stay exactly as they were. The result is validated with ``config``
before it replaces the file; a feed already present (same URL) is reported, not duplicated.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import yaml
from lxml import etree

from ..clock import utcnow
from ..errors import ConfigError
from ..files import staged
from ..models import Source
from ..text import plural

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LANG = re.compile(r"([a-z]{2})(?:[-_][A-Za-z0-9]+)*")
#: FreshRSS web-scraping outlines: not feeds this aggregator can read.
_NOT_FEEDS = ("xpath", "dotnotation")
#: The category folder that carries a source's prior: ``/prior/africa``.
_PRIOR = "prior"


@dataclass(frozen=True)
class OpmlFeed:
    """One outline as the file gave it: a feed, or (``skip`` set) an outline that is not one."""

    url: str
    name: str | None = None
    html_url: str | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    prior: tuple[str, ...] = ()  # categories ``/prior/<tag>``
    folder: tuple[str, ...] = ()  # enclosing folder outlines, outermost first
    type: str | None = None
    line: int | None = None
    skip: str | None = None  # why this outline is no feed (a bookmark, no xmlUrl)

    @property
    def shown(self) -> str:
        """How a report line names it: its URL, else its name and line."""
        if self.url:
            return self.url
        return f"{self.name or '(no name)'!r} (line {self.line})" if self.line else repr(self.name)


@dataclass(frozen=True)
class ImportPlan:
    """What an import would do: sources to add, and why the others are left out."""

    added: tuple[Source, ...]
    present: tuple[tuple[OpmlFeed, str], ...]  # (feed, name of the source that has its URL)
    skipped: tuple[tuple[OpmlFeed, str], ...]  # (feed, reason)
    renamed: tuple[tuple[str, str], ...]  # (name in the OPML, name given)
    dropped: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name given, categories left out)
    nameless: tuple[str, ...] = ()  # URLs of added sources that had no name in the file


# ---- export ------------------------------------------------------------------------------------


def export_opml(sources: Iterable[Source], title: str, now: datetime | None = None) -> str:
    """OPML 2.0 of the configured sources, a folder per first tag."""
    from ..site import tag_name

    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = format_datetime(now or utcnow(), usegmt=True)
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    folder, folder_tag = body, None
    for s in sources:
        tag = s.tags[0] if s.tags else None
        if tag != folder_tag:  # a new run of sources: a new folder (readers merge same names)
            folder_tag = tag
            if tag is None:
                folder = body
            else:
                # the display name when it reads back as the tag ("Africa"), else the tag itself
                shown = tag_name(tag)
                shown = shown if folder_slug(shown) == tag else tag
                folder = ET.SubElement(body, "outline", {"text": shown, "title": shown})
        attrs = {"type": "rss", "text": s.name, "title": s.name, "xmlUrl": s.url}
        if s.language:
            attrs["language"] = s.language
        # OPML 2.0: a tag is a category without slashes; a prior is a category path /prior/x
        categories = [*s.tags, *(f"/{_PRIOR}/{t}" for t in s.prior)]
        if categories:
            attrs["category"] = ",".join(categories)
        ET.SubElement(folder, "outline", attrs)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def folder_slug(name: str) -> str:
    """A folder's name as a tag: ``"Côte d'Ivoire"`` -> ``cote-d-ivoire``, ``"AI & Africa"`` ->
    ``ai-africa``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", plain))


# ---- reading OPML --------------------------------------------------------------------------------


def parse_opml(data: bytes, display: str = "OPML") -> list[OpmlFeed]:
    """Every outline with a feed URL (``xmlUrl``, or newsboat's ``url``), in document order."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        raise ConfigError(f"{display}:{line}: not well-formed XML: {exc.msg}") from exc
    if root is None or etree.QName(root).localname.lower() != "opml":
        raise ConfigError(f"{display}:1: not an OPML file (the root element is not <opml>)")
    body = next((c for c in root if _local(c) == "body"), None)
    if body is None:
        raise ConfigError(f"{display}:{root.sourceline or 1}: OPML without a <body>")
    feeds: list[OpmlFeed] = []
    _walk(body, (), feeds)
    return feeds


#: Outline types that carry a feed in ``url`` when ``xmlUrl`` is missing (newsboat reads those).
_FEED_TYPES = ("rss", "atom")


def _walk(node: etree._Element, folder: tuple[str, ...], out: list[OpmlFeed]) -> None:
    for child in node:
        if _local(child) != "outline":
            continue
        attrs = {
            etree.QName(k).localname.lower(): (v or "").strip() for k, v in child.attrib.items()
        }
        kind = attrs.get("type") or None
        label = _clean(attrs.get("title") or attrs.get("text"))
        url = attrs.get("xmlurl") or (
            attrs.get("url") if (kind or "").lower() in _FEED_TYPES else None
        )
        has_children = any(_local(c) == "outline" for c in child)
        common = {"name": label, "folder": folder, "type": kind, "line": child.sourceline}
        if url:
            out.append(
                OpmlFeed(
                    url=url,
                    html_url=attrs.get("htmlurl") or None,
                    language=_language(attrs.get("language")),
                    tags=_tags(attrs.get("category")),
                    prior=_tags(attrs.get("category"), f"/{_PRIOR}/"),
                    **common,
                )
            )
        elif (kind or "").lower() == "link":
            reason = 'a bookmark (type="link"), not a feed'
            out.append(OpmlFeed(url=attrs.get("url") or "", skip=reason, **common))
        elif not has_children and (kind or attrs.get("htmlurl")):
            out.append(OpmlFeed(url="", skip="no xmlUrl: not a feed", **common))
        _walk(child, folder + ((label,) if label and not url else ()), out)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname.lower() if isinstance(el.tag, str) else ""


def _clean(text: str | None) -> str | None:
    text = " ".join((text or "").split())
    return text or None


def _language(value: str | None) -> str | None:
    m = _LANG.fullmatch((value or "").strip().lower())
    return m.group(1) if m else None


def _tags(category: str | None, prefix: str = "") -> tuple[str, ...]:
    """OPML categories that are plain tags (no slashes) and valid slugs; with ``prefix``, the
    slugs of the categories ``prefix<slug>`` (``/prior/africa``)."""
    out: list[str] = []
    for part in (category or "").split(","):
        part = part.strip().lower()
        if prefix:
            if not part.startswith(prefix):
                continue
            part = part[len(prefix) :]
        if _SLUG.fullmatch(part) and part not in out:
            out.append(part)
    return tuple(out)


# ---- deciding what to add -----------------------------------------------------------------------


def url_key(url: str) -> str:
    """Two spellings of one feed URL compare equal: case of scheme and host, trailing slash."""
    parts = urlsplit(url.strip())
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}{query}"


def plan_import(
    existing: Sequence[tuple[str, str]],
    feeds: Iterable[OpmlFeed],
    known_tags: Container[str] | None = None,
) -> ImportPlan:
    """``existing``: (name, url) of the configured sources. Same URL: already present.
    Same name, other URL: added under a unique name. With ``known_tags``, categories that are
    no tag of the config (a reader's own folders or labels) are left out of ``tags``/``prior``
    (listed in ``ImportPlan.dropped``), since config.yaml accepts only tags the tagger gives."""
    by_url = {url_key(url): name for name, url in existing}
    names = {name.casefold() for name, _ in existing}
    added: list[Source] = []
    present: list[tuple[OpmlFeed, str]] = []
    skipped: list[tuple[OpmlFeed, str]] = []
    renamed: list[tuple[str, str]] = []
    dropped: list[tuple[str, tuple[str, ...]]] = []
    nameless: list[str] = []
    for feed in feeds:
        if feed.skip:
            skipped.append((feed, feed.skip))
            continue
        parts = urlsplit(feed.url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            skipped.append((feed, "not an http(s) feed URL"))
            continue
        if feed.type and any(k in feed.type.lower() for k in _NOT_FEEDS):
            skipped.append((feed, f"a {feed.type} scraping source, not a feed"))
            continue
        key = url_key(feed.url)
        if key in by_url:
            present.append((feed, by_url[key]))
            continue
        wanted = feed.name or parts.netloc.lower().removeprefix("www.")
        name = _unique(wanted, parts.netloc.lower().removeprefix("www."), names)
        if name != wanted:
            renamed.append((wanted, name))
        names.add(name.casefold())
        by_url[key] = name
        if not feed.name:
            nameless.append(feed.url)
        # the file's categories first, then its folders (outermost first) as tags
        folders = tuple(t for t in map(folder_slug, feed.folder) if _SLUG.fullmatch(t))
        tags = tuple(dict.fromkeys((*feed.tags, *folders)))
        prior = feed.prior
        if known_tags is not None:
            unknown = [t for t in (*tags, *prior) if t not in known_tags]
            if unknown:
                dropped.append((name, tuple(dict.fromkeys(unknown))))
                tags = tuple(t for t in tags if t in known_tags)
                prior = tuple(t for t in prior if t in known_tags)
        added.append(
            Source(name=name, url=feed.url, language=feed.language, tags=tags, prior=prior)
        )
    return ImportPlan(
        tuple(added), tuple(present), tuple(skipped), tuple(renamed), tuple(dropped),
        tuple(nameless),
    )  # fmt: skip


def _unique(name: str, host: str, taken: set[str]) -> str:
    if name.casefold() not in taken:
        return name
    candidate = f"{name} ({host})"
    n = 2
    while candidate.casefold() in taken:
        candidate = f"{name} ({host}) {n}"
        n += 1
    return candidate


# ---- writing config.yaml -------------------------------------------------------------------------


def import_into_config(config_path: Path, opml_path: Path, out: TextIO = sys.stdout) -> int:
    """Add the OPML's new feeds to config.yaml and report each feed's fate on ``out``."""
    config_path, opml_path = Path(config_path), Path(opml_path)
    try:
        data = opml_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{opml_path}: cannot read: {exc.strerror or exc}") from exc
    feeds = parse_opml(data, str(opml_path))
    try:
        text = config_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read: {exc.strerror or exc}") from exc
    existing = configured_sources(text, str(config_path))
    plan = plan_import(existing, feeds, known_tags(text))
    named: list[tuple[str, str, str | None]] = []
    if plan.nameless:
        plan, named = _names_from_feeds(config_path, text, plan, {n for n, _ in existing})

    for feed, name in plan.present:
        print(f"present  {feed.url}  (already in {config_path.name} as {name!r})", file=out)
    for feed, reason in plan.skipped:
        print(f"skipped  {feed.shown}  ({reason})", file=out)
    for wanted, name in plan.renamed:
        print(f"renamed  {wanted!r} to {name!r} (the name is taken)", file=out)
    for s in plan.added:
        lang = f" [{s.language}]" if s.language else ""
        print(f"added    {s.name}{lang}  {s.url}", file=out)
    for url, name, error in named:
        how = f"after its URL ({error})" if error else "from the feed's own title"
        print(f"named    {name!r} {how}  {url}", file=out)
    for name, categories in plan.dropped:
        listed = ", ".join(map(repr, categories))
        print(
            f"no tag   {listed} of {name!r} (not ai, africa, a country or a topic: add a topic "
            "of that name to keep it as a tag)",
            file=out,
        )
    summary = (
        f"{len(plan.added)} added, {len(plan.present)} already present, "
        f"{len(plan.skipped)} skipped ({plural(len(feeds), 'outline')} in {opml_path.name})"
    )
    if not plan.added:
        print(f"{summary}; {config_path} unchanged", file=out)
        return 0
    new_text = add_sources_text(text, plan.added, str(config_path))
    _replace_validated(config_path, new_text)
    print(f"{summary}; {config_path} updated", file=out)
    return 0


def _names_from_feeds(
    config_path: Path, text: str, plan: ImportPlan, taken: set[str]
) -> tuple[ImportPlan, list[tuple[str, str, str | None]]]:
    """Name each nameless feed after its own title, fetched once (the config's fetch settings:
    private addresses refused unless allowed, size and time caps). A feed that cannot be read
    is named after its URL, and the report says why. Returns the plan with the new names and
    ``(url, name, error or None)`` per feed."""
    from dataclasses import replace

    from ..fetch import Fetcher
    from ..models import SourceState
    from ..parse import parse

    fetch_settings = _fetch_settings(config_path, add_sources_text(text, plan.added))
    names = {n.casefold() for n in taken} | {
        s.name.casefold() for s in plan.added if s.url not in plan.nameless
    }
    added, named = [], []
    with Fetcher(fetch_settings) as fetcher:
        for s in plan.added:
            if s.url not in plan.nameless:
                added.append(s)
                continue
            title, error = "", None
            try:
                result = fetcher.fetch(SourceState(name=s.name, url=s.url, fetch_url=s.url))
                title = " ".join(parse(result.content or b"", result.final_url, result.headers)
                                 .title.split())  # fmt: skip
                error = None if title else "the feed has no title"
            except Exception as exc:  # any failure: fall back to the URL, and say why
                error = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            parts = urlsplit(s.url)
            wanted = title or (parts.netloc + parts.path.rstrip("/")).removeprefix("www.")
            name = _unique(wanted, parts.netloc.lower().removeprefix("www."), names)
            names.add(name.casefold())
            added.append(replace(s, name=name))
            named.append(
                (s.url, name, f"the feed did not give its title: {error}" if error else None)
            )
    return replace(plan, added=tuple(added)), named


def _fetch_settings(config_path: Path, candidate: str):
    """The fetch settings the config will have after the import (defaults if it will not load:
    the validation after the import reports why)."""
    import tempfile

    from ..config import load
    from ..settings import FetchSettings

    fd, name = tempfile.mkstemp(dir=config_path.parent, prefix=f".{config_path.name}.")
    tmp = Path(name)
    try:
        with open(fd, "w", encoding="utf-8") as f:  # beside it: relative paths resolve alike
            f.write(candidate)
        return load(tmp).fetch
    except ConfigError:
        return FetchSettings()
    finally:
        tmp.unlink(missing_ok=True)


def configured_sources(text: str, display: str = "config.yaml") -> list[tuple[str, str]]:
    """(name, url) of the sources already in the file; tolerant, since validation comes later."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display}: invalid YAML, fix it before importing: {exc}") from exc
    entries = doc.get("sources") if isinstance(doc, dict) else None
    out = []
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("url"):
            out.append((str(entry.get("name") or ""), str(entry["url"])))
    return out


def known_tags(text: str) -> set[str]:
    """The tags a source of this config may name: ai, africa, the African countries' slugs and
    the keys of its ``topics`` (tolerant, since validation comes later)."""
    from ..tagging.lexicon import COUNTRY_CODES

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    topics = doc.get("topics") if isinstance(doc, dict) else None
    return {"ai", "africa", *COUNTRY_CODES, *(topics if isinstance(topics, dict) else ())}


def add_sources_text(text: str, sources: Sequence[Source], display: str = "config.yaml") -> str:
    """``text`` with ``sources`` inserted after the last configured source, in its style."""
    root = yaml.compose(text) if text.strip() else None
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{display}:1: the top level must be a mapping of keys")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    entry = next(((k, v) for k, v in (root.value if root else []) if k.value == "sources"), None)
    if entry is None:  # no sources key: append one at the end
        block = "".join(_entry_lines(s, "  - ", "    ") for s in sources)
        sep = "\n" if lines and lines[-1].strip() else ""
        return "".join(lines) + f"{sep}sources:\n{block}"
    key, value = entry
    key_col = key.start_mark.column
    if isinstance(value, yaml.SequenceNode) and value.value and not value.flow_style:
        first = value.value[0]
        first_line = lines[first.start_mark.line]
        item_col = first.start_mark.column
        dash_col = first_line.rfind("-", 0, item_col)
        dash = " " * dash_col + "-" + " " * (item_col - dash_col - 1)  # e.g. "  - "
        keys = " " * item_col
        at = _end_line(value.value[-1])
    elif isinstance(value, yaml.SequenceNode) and value.value:
        raise ConfigError(
            f"{display}:{key.start_mark.line + 1}: sources is written inline ([...]); "
            "write it as a block list (one '- name:' per source) to import into it"
        )
    else:  # empty: `sources:`, `sources: []` or `sources: ~`
        line_no = key.start_mark.line
        if value.start_mark.line == line_no and value.end_mark.index > value.start_mark.index:
            line = lines[line_no]
            start = value.start_mark.column
            end = (
                value.end_mark.column if value.end_mark.line == line_no else len(line.rstrip("\n"))
            )
            rest = line[end:].rstrip("\n")
            lines[line_no] = (
                line[:start].rstrip() + (f" {rest.lstrip()}" if rest.strip() else "") + "\n"
            )
        dash, keys = " " * (key_col + 2) + "- ", " " * (key_col + 4)
        at = line_no + 1
    block = "".join(_entry_lines(s, dash, keys) for s in sources)
    return "".join(lines[:at]) + block + "".join(lines[at:])


def _end_line(node: yaml.Node) -> int:
    """Index of the line just after a block node's last character of content."""
    while (
        isinstance(node, (yaml.MappingNode, yaml.SequenceNode))
        and node.value
        and not node.flow_style
    ):
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    mark = node.end_mark
    return mark.line if mark.column == 0 else mark.line + 1


def _entry_lines(s: Source, dash: str, keys: str) -> str:
    out = [f"{dash}name: {_scalar(s.name)}\n", f"{keys}url: {_scalar(s.url)}\n"]
    if s.language:
        out.append(f"{keys}language: {_scalar(s.language)}\n")
    if s.tags:
        out.append(f"{keys}tags: [{', '.join(_scalar(t) for t in s.tags)}]\n")
    if s.prior:
        out.append(f"{keys}prior: [{', '.join(_scalar(t) for t in s.prior)}]\n")
    return "".join(out)


def _scalar(value: str) -> str:
    """Plain when YAML reads it back unchanged as a string, else a double-quoted string."""
    if value and "#" not in value and value == value.strip():
        try:
            if yaml.safe_load(f"k: {value}") == {"k": value}:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


def _replace_validated(config_path: Path, new_text: str) -> None:
    """Write beside the file, validate with ``config``, then rename over it (atomic)."""
    from ..config import problems

    with staged(config_path, mode=None) as tmp:
        tmp.write_text(new_text, encoding="utf-8")
        found = problems(tmp)
        if found:
            raise ConfigError(
                [p.replace(str(tmp), str(config_path)) for p in found]
                + [f"{config_path}: not changed (the import would make it invalid)"]
            )
