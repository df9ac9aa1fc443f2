"""``aggregator sources``: list, add, remove, pause, resume and rename the feeds of config.yaml.

The file is edited as a YAML round trip (ruamel.yaml): the operator's comments, key order,
quoting and indentation stay, and only the entry concerned changes. Every edit is checked
exactly as ``aggregator check`` checks the file (``config.problems``) before it replaces the
file atomically, the previous version kept beside it as ``config.yaml.bak``. A running
``aggregator run`` sees the file change and reloads it.

``sources add URL`` and ``check --discover URL`` take a site's home page as well as a feed: the
page's feed links, then the usual paths, are tried over the fetcher (private addresses refused
unless allowed, size cap, deadline), and each feed found is read to show its title.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ..clock import utcnow
from ..errors import AggregatorError, ConfigError
from ..service.health import Standing, standing

if TYPE_CHECKING:
    from ..fetch import Candidate
    from ..models import SourceState
    from ..settings import FetchSettings, Settings

#: The suffix of the copy of config.yaml kept before each edit.
BACKUP_SUFFIX = ".bak"
_ACTIONS = ("list", "add", "remove", "pause", "resume", "rename")


class Exit(AggregatorError):
    """A command that ends with a message and an exit code (not a crash)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.exit_code = code


# ---- the parser -----------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``aggregator sources ACTION`` to the command line."""
    p = sub.add_parser(
        "sources",
        help="list, add, remove, pause, resume or rename sources in config.yaml",
        description="List, add, remove, pause, resume or rename the sources of config.yaml."
        "\n\nManage them without editing config.yaml by hand: comments and "
        "order are kept, the result is checked like 'aggregator check' before it replaces the "
        "file (the previous one is kept as config.yaml.bak), and a running 'aggregator run' "
        "reloads it.",
        epilog="examples:\n  aggregator sources list\n"
        "  aggregator sources add https://techcabal.com/ --language en --tags africa\n"
        "  aggregator sources pause TechCabal\n"
        "  aggregator sources rename TechCabal 'TechCabal (EN)'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    acts = p.add_subparsers(dest="sources_action", required=True, metavar="ACTION")
    ls = acts.add_parser(
        "list",
        help="each source's URL, language, state, last success, next attempt and items",
        description="Each configured source with its URL, language, state (paused, new, ok, "
        "not-modified, backing-off, moved, gone), last success, next attempt and stored items "
        "(times in the digest's time zone).",
    )
    ls.add_argument("--json", action="store_true", help="one JSON array, times in UTC (ISO 8601)")
    add = acts.add_parser(
        "add",
        help="add a feed, or the feed of a site's home page",
        description="Add a source. URL may be the feed or the site's home page: its feed links, "
        "then the usual paths (/feed/, /rss.xml...), are tried. With several feeds found, they "
        "are listed and nothing changes until one is picked with --pick N.",
        epilog="example:\n  aggregator sources add https://www.hespress.com/ --pick 1 "
        "--language ar --tags morocco",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("url", metavar="URL", help="a feed, or a site's home page")
    add.add_argument("--name", help="the source's name (default: the feed's title, else the host)")
    add.add_argument("--language", help="fr, en, ar... (default: the feed's language, if given)")
    add.add_argument(
        "--tags", default="", help="comma-separated tags for every item, e.g. ai,africa"
    )
    add.add_argument("--pick", type=int, metavar="N", help="the Nth feed found (see the list)")
    add.add_argument(
        "--no-discover", action="store_true", help="add URL as it is, without fetching it"
    )
    for action, what in (
        ("remove", "remove a source from config.yaml (its stored items stay)"),
        ("pause", "stop fetching a source (enabled: false); its items stay published"),
        ("resume", "fetch a paused source again, at the next refresh"),
    ):
        a = acts.add_parser(action, help=what, description=what[0].upper() + what[1:] + ".")
        a.add_argument("name", metavar="NAME", help="the source's name (any case)")
    rn = acts.add_parser(
        "rename",
        help="give a source another name (its stored items follow)",
        description="Give a source another name; its state and stored items follow it.",
    )
    rn.add_argument("old", metavar="OLD")
    rn.add_argument("new", metavar="NEW")
    p.set_defaults(config_handler=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from ..config import default_config_path

    out = out or sys.stdout
    path = default_config_path(args.config)
    action = args.sources_action
    if action == "list":
        return list_sources(path, as_json=args.json, out=out)
    if action == "add":
        tags = [t.strip() for t in args.tags.split(",") if t.strip()]
        return add_source(
            path, args.url, name=args.name, language=args.language, tags=tags, pick=args.pick,
            discover=not args.no_discover, out=out,
        )  # fmt: skip
    if action == "remove":
        return remove_source(path, args.name, out=out)
    if action in ("pause", "resume"):
        return set_enabled(path, args.name, action == "resume", out=out)
    if action == "rename":
        return rename_source(path, args.old, args.new, out=out)
    raise AssertionError(action)


# ---- config.yaml as a round trip ----------------------------------------------------------------


class ConfigFile:
    """config.yaml loaded for editing: ``data`` is ruamel's round-trip tree."""

    def __init__(self, path: Path):
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError
        from ruamel.yaml.util import load_yaml_guess_indent

        from ..config import PACKAGED_CONFIG

        self.path = Path(path)
        if self.path.resolve() == PACKAGED_CONFIG.resolve():
            raise ConfigError(
                f"{self.path}: this is the packaged default; copy it to ./config.yaml (or "
                "name yours with --config) and edit that"
            )
        try:
            self.raw = self.path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        try:
            self.text = self.raw.decode("utf-8-sig")
            _, indent, dash = load_yaml_guess_indent(self.text) if self.text.strip() else (0, 2, 0)
            self.yaml = YAML(typ="rt")
            self.yaml.preserve_quotes = True
            self.yaml.width = 4096  # never fold a long line the operator wrote
            self.yaml.indent(mapping=dash or 2, sequence=indent or 2, offset=dash or 0)
            self.data: Any = self.yaml.load(self.text)
        except (UnicodeDecodeError, YAMLError) as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", 0) + 1
            raise ConfigError(
                f"{self.path}:{line}: invalid YAML, fix it first ({_first_line(exc)})"
            ) from exc
        if self.data is None:
            from ruamel.yaml.comments import CommentedMap

            self.data = CommentedMap()
        if not hasattr(self.data, "lc") or not isinstance(self.data, dict):
            raise ConfigError(f"{self.path}:1: the top level must be a mapping of keys")

    @property
    def sources(self) -> Any:
        """The ``sources`` list (made, as a block list, when missing or empty)."""
        from ruamel.yaml.comments import CommentedSeq

        seq = self.data.get("sources")
        if not isinstance(seq, list):
            if seq is not None and "sources" in self.data:
                raise ConfigError(f"{self.path}:{self.line('sources')}: sources: expected a list")
            seq = CommentedSeq()
            self.data["sources"] = seq
        if not seq and getattr(seq, "fa", None) is not None:
            seq.fa.set_block_style()
        return seq

    def line(self, key: str) -> int:
        try:
            return int(self.data.lc.key(key)[0]) + 1
        except (KeyError, AttributeError, TypeError):
            return 1

    def find(self, name: str) -> tuple[int, Any]:
        """The index and entry of the source called ``name`` (any case); ConfigError naming the
        file, line and key, with the closest name, when there is none."""
        from ..config.values import did_you_mean

        entries = self.sources
        names = []
        for i, entry in enumerate(entries):
            if isinstance(entry, dict):
                value = str(entry.get("name", ""))
                names.append(value)
                if value.casefold() == name.strip().casefold():
                    return i, entry
        hint = did_you_mean(name, names)
        raise ConfigError(
            f"{self.path}:{self.line('sources')}: sources: no source named {name!r}{hint}"
        )

    def entry_line(self, index: int) -> int:
        try:
            return int(self.sources.lc.item(index)[0]) + 1
        except (KeyError, AttributeError, TypeError):
            return self.line("sources")

    def remove(self, index: int) -> None:
        """Delete entry ``index``; the comment lines after it (the next group's heading, which
        ruamel keeps on the entry's last key) move to the entry before, or above the list."""
        from ruamel.yaml.comments import CommentedMap
        from ruamel.yaml.error import CommentMark
        from ruamel.yaml.tokens import CommentToken

        seq = self.sources
        entry: Any = seq[index]
        after = ""
        if isinstance(entry, CommentedMap) and len(entry):
            last = list(entry)[-1]
            slot = entry.ca.items.get(last)
            token = slot[2] if slot and len(slot) > 2 else None
            if token is not None and "\n" in token.value:
                after = token.value[token.value.index("\n") + 1 :]
        del seq[index]
        if not after:
            return
        prev: Any = seq[index - 1] if index > 0 else None
        if isinstance(prev, CommentedMap) and len(prev):
            last = list(prev)[-1]
            slot = prev.ca.items.setdefault(last, [None, None, None, None])
            while len(slot) < 3:
                slot.append(None)
            if slot[2] is None:
                slot[2] = CommentToken("\n" + after, CommentMark(0), None)
            else:
                slot[2].value += after
        elif seq and after.strip():
            if seq.ca.comment is None:
                seq.ca.comment = [None, []]
            if seq.ca.comment[1] is None:
                seq.ca.comment[1] = []
            seq.ca.comment[1].append(CommentToken(after.lstrip("\n"), CommentMark(0), None))

    def dump(self) -> str:
        buf = io.StringIO()
        self.yaml.dump(self.data, buf)
        return buf.getvalue()

    def save(self, out: TextIO | None, what: str) -> None:
        """Check the edited file like ``aggregator check``, keep a backup, replace atomically."""
        from ..config import problems
        from ..files import write_atomic

        new = self.dump().encode("utf-8")
        fd, name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".check"
        )
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(new)
            found = problems(tmp)
        finally:
            tmp.unlink(missing_ok=True)
        if found:
            raise ConfigError(
                [p.replace(str(tmp), str(self.path)) for p in found]
                + [f"{self.path}: not changed ({what} would make it invalid)"]
            )
        try:
            if self.path.read_bytes() != self.raw:
                raise ConfigError(f"{self.path}: changed by someone else meanwhile; run again")
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        backup = self.path.with_name(self.path.name + BACKUP_SUFFIX)
        write_atomic(backup, self.raw, mode=self.path.stat().st_mode & 0o777)
        write_atomic(self.path, new, mode=None)
        print(f"{self.path}: {what} (previous version in {backup.name})", file=out)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or ["unreadable"])[0]


# ---- the edits ---------------------------------------------------------------------------------


def remove_source(path: Path, name: str, out: TextIO | None = None) -> int:
    doc = ConfigFile(path)
    i, entry = doc.find(name)
    if len(doc.sources) == 1:
        raise ConfigError(
            f"{path}:{doc.entry_line(i)}: sources[{i}]: {entry['name']!r} is the only source "
            "and a configuration needs one: not changed (add another first, or pause it)"
        )
    doc.remove(i)
    doc.save(out, f"removed {entry['name']!r} (its stored items stay)")
    return 0


def set_enabled(path: Path, name: str, enabled: bool, out: TextIO | None = None) -> int:
    doc = ConfigFile(path)
    _, entry = doc.find(name)
    was = entry.get("enabled", True) is not False
    if was == enabled:
        print(f"{path}: {entry['name']!r} is {'active' if enabled else 'paused'} already", file=out)
        return 0
    if enabled:
        del entry["enabled"]
    else:
        entry["enabled"] = False
    doc.save(out, f"{'resumed' if enabled else 'paused'} {entry['name']!r}")
    return 0


def rename_source(path: Path, old: str, new: str, out: TextIO | None = None) -> int:
    doc = ConfigFile(path)
    _, entry = doc.find(old)
    new = " ".join(new.split())
    if not new:
        raise ConfigError(f"{path}: the new name is empty")
    for other in doc.sources:
        if other is not entry and str(other.get("name", "")).casefold() == new.casefold():
            raise ConfigError(
                f"{path}:{doc.line('sources')}: sources: a source is named {new!r} already"
            )
    was = entry["name"]
    entry["name"] = new
    doc.save(out, f"renamed {was!r} to {new!r} (its items follow at the next refresh)")
    return 0


def add_source(
    path: Path,
    url: str,
    *,
    name: str | None = None,
    language: str | None = None,
    tags: Sequence[str] = (),
    pick: int | None = None,
    discover: bool = True,
    out: TextIO | None = None,
) -> int:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from ..config.values import url_key, url_problem

    problem = url_problem(url)
    if problem:
        raise Exit(f"sources add: bad URL {url!r}: {problem}", 2)
    doc = ConfigFile(path)
    feed = Found(url, "", None)
    if discover:
        found = discover_feeds(fetch_settings(path, doc), url, out)
        print_candidates(found, url, out, _configured(doc))
        feed = _choose(found, url, pick)
    for i, entry in enumerate(doc.sources):
        if isinstance(entry, dict) and url_key(str(entry.get("url", ""))) == url_key(feed.url):
            raise ConfigError(
                f"{path}:{doc.entry_line(i)}: sources[{i}].url: {feed.url} is already "
                f"configured as {entry.get('name')!r}"
            )
    name = " ".join((name or feed.title or _host(feed.url)).split())
    taken = {str(e.get("name", "")).casefold() for e in doc.sources if isinstance(e, dict)}
    if name.casefold() in taken:
        raise ConfigError(
            f"{path}:{doc.line('sources')}: sources: a source is named {name!r} already "
            "(choose another with --name)"
        )
    entry = CommentedMap()
    entry["name"] = name
    entry["url"] = feed.url
    lang = (language or feed.language or "").strip().lower()
    if lang:
        entry["language"] = lang
    if tags:
        seq = CommentedSeq(tags)
        seq.fa.set_flow_style()
        entry["tags"] = seq
    doc.sources.append(entry)
    doc.save(out, f"added {name!r} ({feed.url})")
    return 0


@dataclass(frozen=True)
class Found:
    """A feed found and read: its address, title and language (None when not declared)."""

    url: str
    title: str
    language: str | None
    kind: str = ""
    how: str = ""
    items: int = 0


def fetch_settings(path: Path, doc: ConfigFile | None = None) -> FetchSettings:
    """The fetch settings of the config (a config without sources yet still gives its own)."""
    from ..config import load

    try:
        return load(path).fetch
    except ConfigError as first:
        doc = doc or ConfigFile(path)
        if doc.data.get("sources"):
            raise
        # No source yet (the first 'sources add'): the same file with one placeholder source.
        probe = ConfigFile(path)
        probe.data["sources"] = [{"name": "probe", "url": "https://example.invalid/"}]
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".check")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(probe.dump())
            return load(tmp).fetch
        except ConfigError:
            raise first from None
        finally:
            tmp.unlink(missing_ok=True)


def discover_feeds(settings: FetchSettings, url: str, out: TextIO | None = None) -> list[Found]:
    """The feeds at ``url`` (a feed or a home page: RSS, Atom or JSON Feed), each read with the
    parser for its title (one the parser refuses is named on ``out`` and left out). Raises
    Exit when ``url`` cannot be fetched."""
    from .. import fetch as fetch_stage
    from ..errors import FetchError

    with fetch_stage.Fetcher(settings) as fetcher:
        try:
            found = fetch_stage.discover(fetcher, url)
        except FetchError as exc:
            raise Exit(f"{url}: {exc.message}") from None
    readable = []
    for c in found.candidates:
        f = _read(c)
        if isinstance(f, Found):
            readable.append(f)
        elif out is not None:
            print(f"not readable here: {c.url} ({c.kind}: {f})", file=out)
    return readable


def _read(c: Candidate) -> Found | str:
    """The candidate read with the parser, or why it cannot be."""
    from ..errors import ParseError
    from ..parse import parse
    from ..text import primary_language

    if c.result is None or c.result.content is None:
        return "no content"
    try:
        feed = parse(c.result.content, c.result.final_url, c.result.headers)
    except ParseError as exc:
        return exc.message
    lang = primary_language(feed.language) if feed.language else None
    title = " ".join((feed.title or c.title).split())
    return Found(c.url, title, lang if lang and len(lang) == 2 else None, c.kind, c.found,
                 len(feed.items))  # fmt: skip


def print_candidates(
    found: list[Found], url: str, out: TextIO | None, configured: dict[str, str] | None = None
) -> None:
    """The numbered list of feeds found (``configured``: URL key -> name of a source that has
    it already)."""
    from ..config.values import url_key

    if not found:
        return
    print(f"{len(found)} feed{'s' if len(found) != 1 else ''} found at {url}:", file=out)
    for n, f in enumerate(found, 1):
        lang = f" [{f.language}]" if f.language else ""
        print(f"  {n}. {f.title or '(untitled)'}{lang}  {f.url}", file=out)
        have = (configured or {}).get(url_key(f.url))
        note = f"; configured already as {have!r}" if have else ""
        print(
            f"     {f.kind}, {f.items} item{'s' if f.items != 1 else ''}, {f.how}{note}", file=out
        )


def _configured(doc: ConfigFile) -> dict[str, str]:
    from ..config.values import url_key

    return {
        url_key(str(e.get("url", ""))): str(e.get("name", ""))
        for e in doc.sources
        if isinstance(e, dict)
    }


def _choose(found: list[Found], url: str, pick: int | None) -> Found:
    if not found:
        raise Exit(
            f"no feed found at {url} (no feed link in the page, none at the usual "
            "paths such as /feed/ or /rss.xml); give the feed's own URL"
        )
    if pick is not None:
        if not 1 <= pick <= len(found):
            raise Exit(f"--pick {pick}: choose 1 to {len(found)}", 2)
        return found[pick - 1]
    if len(found) > 1:
        raise Exit(
            f"{len(found)} feeds found at {url}; nothing added: choose one with "
            f"--pick N (1 to {len(found)})",
            2,  # the command needs one more argument: a usage problem, like a bad --pick
        )
    return found[0]


def _host(url: str) -> str:
    return (urlsplit(url).hostname or url).removeprefix("www.")


def check_discover(path: Path, url: str, out: TextIO | None = None) -> int:
    """``aggregator check --discover URL``: the feeds found at URL; 1 when none."""
    out = out or sys.stdout
    found = discover_feeds(fetch_settings(path), url, out)
    if not found:
        print(f"no feed found at {url}", file=out)
        return 1
    try:
        configured = _configured(ConfigFile(path))
    except ConfigError:
        configured = {}
    print_candidates(found, url, out, configured)
    return 0


# ---- list and the 'nothing due' line ------------------------------------------------------------


def list_sources(path: Path, as_json: bool = False, out: TextIO | None = None) -> int:
    from ..config import load

    settings = load(path)
    from ..service.health import source_health

    states: dict[str, SourceState] = {}
    counts: dict[str, tuple[int, int]] = {}
    times: dict[str, list[datetime]] = {}
    if not isinstance(settings.database, Path) or settings.database.exists():
        from ..store import Store

        with Store(settings.database) as store:
            states = {s.name: s for s in store.source_states()}
            counts, times = store.attempt_counts(), store.item_times()
    rows: list[dict[str, Any]] = []
    views = []
    now = utcnow()
    for s in settings.sources:
        st = states.get(s.name)
        view = standing(s, st, source_health(counts.get(s.name), times.get(s.name), now))
        views.append(view)
        rows.append({
            "name": s.name, "url": s.url, "language": s.language, "state": view.state,
            "since": _iso(view.since), "silent": view.silent,
            "last_success": _iso(st.last_success if st else None),
            "next_attempt": _iso(view.next_due),
            "items": st.items if st else 0, "excluded": st.excluded if st else 0,
            "last_error": st.last_error if st else None,
        })  # fmt: skip
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2), file=out)
        return 0
    zone = ZoneInfo(settings.digest.timezone)
    table = [("name", "language", "state", "last success", "next attempt", "items", "url")]
    for r, view in zip(rows, views, strict=True):
        when = next_attempt_text(view, now, zone)
        table.append((
            r["name"], r["language"] or "-", r["state"], _local(r["last_success"], zone) or "never",
            when, str(r["items"]), r["url"],
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [
            c.ljust(w) if i != 5 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join([*cells, row[-1]]).rstrip(), file=out)
    print(f"({len(rows)} source{'s' if len(rows) != 1 else ''}; times in {zone.key})", file=out)
    return 0


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def next_attempt_text(view: Standing, now: datetime, zone: ZoneInfo) -> str:
    """A source's next attempt as ``sources list`` and ``status`` show it: "-" when it is never
    fetched (paused, gone), "now" when due, else the local time."""
    if view.stopped:
        return "-"
    if view.due(now) or view.next_due is None:
        return "now"
    return view.next_due.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _local(iso: str | None, zone: ZoneInfo) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def nothing_due(settings: Settings, states: Sequence[SourceState], now: datetime) -> str:
    """Why a fetch had nothing to do: "nothing due: 3 sources backing off (next at 02:08), 34
    fresh (next at 03:00); times in Africa/Casablanca; --force fetches now"."""
    zone = ZoneInfo(settings.digest.timezone)
    configured = {s.name: s for s in settings.sources}
    labels = {"failing": "backing off", "gone": "gone (410: change the URL to revive)"}
    groups: dict[str, list[datetime | None]] = {}
    for st in states:
        source = configured.get(st.name)
        if source is None:
            continue
        view = standing(source, st)
        groups.setdefault(labels.get(view.group, view.group), []).append(view.next_due)
    parts: list[str] = []
    for group in ("backing off", "fresh", "paused", "gone (410: change the URL to revive)"):
        times = [t for t in groups.get(group, []) if t is not None]
        n = len(groups.get(group, []))
        if not n:
            continue
        noun = "source" if not parts and n == 1 else "sources" if not parts else ""
        label = f"{n} {noun} {group}".replace("  ", " ")
        if times and group in ("backing off", "fresh"):
            first = min(times).astimezone(zone)
            fmt = "%H:%M" if first.date() == now.astimezone(zone).date() else "%a %d %b %H:%M"
            label += f" (next at {first.strftime(fmt)})"
        parts.append(label)
    if not parts:
        return "nothing due: no source to fetch"
    return f"nothing due: {', '.join(parts)}; times in {zone.key}; --force fetches now"


__all__ = ["ConfigFile", "add_source", "check_discover", "nothing_due", "register", "run"]
