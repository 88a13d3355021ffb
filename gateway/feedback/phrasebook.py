"""What the hub can say, in one language: a validated message catalogue (the sentences
themselves are data, ``phrases/<language>.toml``, so a translator edits no code).

Whole sentences per reading kind rather than a verb slotted into a frame: Welsh mutates the
verb after "a" and "i", and other languages have their own rules, so each kind is written out.
Pure: no file is read here (``catalogue.py`` does that).
"""

from __future__ import annotations

import string
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.wire.vocabulary import KIND_REQUIRED, ReadingKind

#: The placeholders each message may use, and must not go without: a sentence that forgot
#: ``{when}`` would tell the patient to retake "again" with no time.
MESSAGE_FIELDS: Final[dict[str, frozenset[str]]] = {
    "received": frozenset({"what"}),
    "received_values": frozenset({"what", "values"}),
    "confirmed": frozenset(),
    "offline": frozenset(),
    "quality_intro": frozenset(),
}
WHEN_FIELDS: Final[dict[str, frozenset[str]]] = {
    "now": frozenset(),
    "one_minute": frozenset(),
    "minutes": frozenset({"n"}),
}


class PhrasebookError(ValueError):
    """A catalogue that is incomplete or uses a placeholder its message cannot fill."""


def _fields(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


class Phrasebook(BaseModel):
    """Every sentence the hub may speak in ``language``, with the espeak-ng ``voice`` for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    voice: str = Field(min_length=1, description="espeak-ng voice, e.g. en-gb or cy")
    messages: dict[str, str]
    when: dict[str, str]
    what: dict[ReadingKind, str] = Field(description="the reading's name: 'blood pressure'")
    values: dict[ReadingKind, str] = Field(
        description="how values are read, e.g. '{systolic} over {diastolic}'"
    )
    reminder: dict[ReadingKind, str] = Field(description="'It is time to take your blood pressure.'")
    retake: dict[ReadingKind, str] = Field(description="'Please sit quietly, and ... again {when}.'")

    @model_validator(mode="after")
    def _complete(self) -> Phrasebook:
        _check(self.language, "messages", self.messages, MESSAGE_FIELDS)
        _check(self.language, "when", self.when, WHEN_FIELDS)
        for table in ("what", "values", "reminder", "retake"):
            entries: dict[ReadingKind, str] = getattr(self, table)
            missing = set(ReadingKind) - set(entries)
            if missing:
                raise PhrasebookError(f"{self.language}: [{table}] lacks {sorted(missing)}")
        for kind, template in self.retake.items():
            if _fields(template) != {"when"}:
                raise PhrasebookError(f"{self.language}: retake.{kind} must use exactly {{when}}")
        for kind, template in self.values.items():
            if not _fields(template) <= KIND_REQUIRED[kind]:
                raise PhrasebookError(
                    f"{self.language}: values.{kind} may use only {sorted(KIND_REQUIRED[kind])}"
                )
        for kind, template in self.reminder.items():
            if _fields(template):
                raise PhrasebookError(f"{self.language}: reminder.{kind} takes no placeholder")
        return self


def _check(language: str, table: str, entries: dict[str, str], fields: dict[str, frozenset[str]]) -> None:
    if set(entries) != set(fields):
        raise PhrasebookError(
            f"{language}: [{table}] must have exactly {sorted(fields)}, has {sorted(entries)}"
        )
    for key, template in entries.items():
        if _fields(template) != fields[key]:
            raise PhrasebookError(f"{language}: {table}.{key} must use {sorted(fields[key])}")
