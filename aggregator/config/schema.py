"""Which keys each section of config.yaml accepts, derived from the settings dataclasses.

A section's keys are the ``dataclasses.fields()`` of its class, except where a YAML key is another
word than the field (``KEY_NAMES``) or a field is no key at all (``NOT_KEYS``). Adding a field to a
settings class is therefore all it takes for its key to be accepted: there is no second list to
keep in step. Also here: the suggestion for a misspelt or misplaced key.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import fields

from ..models import Source
from ..settings import (
    DigestSettings,
    DkimSettings,
    FetchSettings,
    OutputSettings,
    Settings,
    SmtpSettings,
    TaggingSettings,
)
from .values import did_you_mean

#: Section (dotted path of the mapping in the file; ``""`` is the top level) -> its settings class.
#: The order decides which section a misplaced key is said to belong to.
SECTIONS: dict[str, type] = {
    "": Settings,
    "output": OutputSettings,
    "fetch": FetchSettings,
    "sources[]": Source,
    "digest": DigestSettings,
    "digest.smtp": SmtpSettings,
    "digest.dkim": DkimSettings,
    "tagging": TaggingSettings,
}
#: (section, field) -> the YAML key, where they differ (``from`` is a Python keyword).
KEY_NAMES: dict[tuple[str, str], str] = {("digest", "sender"): "from"}
#: (section, field) of fields that are not keys: the loader fills them.
NOT_KEYS: frozenset[tuple[str, str]] = frozenset({("", "path"), ("", "lines")})

_HINTS = {
    ("digest.smtp", "password"): "never put a password here: set password_env to the name of "
    "an environment variable that holds it",
}


def keys(section: str) -> Mapping[str, str]:
    """The keys ``section`` accepts, in field order: YAML key -> field name."""
    return class_keys(section, SECTIONS[section])


@functools.cache
def class_keys(section: str, cls: type) -> Mapping[str, str]:
    """The keys ``section`` would accept if its class were ``cls`` (keyed by class: cached)."""
    return {
        KEY_NAMES.get((section, f.name), f.name): f.name
        for f in fields(cls)
        if (section, f.name) not in NOT_KEYS
    }


def suggestion(name: str, section: str) -> str:
    """What to tell about the unknown key ``name`` of ``section``: `` (...)`` or nothing."""
    hint = _HINTS.get((section, name))
    if hint:
        return f" ({hint})"
    renamed = KEY_NAMES.get((section, name))
    if renamed:
        return f" (did you mean {renamed!r}?)"
    close = did_you_mean(name, keys(section))
    if close:
        return close
    for other in SECTIONS:
        if other != section and name in keys(other):
            if other == "sources[]":
                return " (it belongs in each source)"
            return (
                f" (did you mean '{other}.{name}'?)" if other else " (it belongs at the top level)"
            )
    return ""
