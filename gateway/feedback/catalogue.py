"""The message catalogues shipped with the hub (``phrases/<language>.toml``), read once at
start and validated, so a broken translation fails the hub's start, not a patient's reading."""

from __future__ import annotations

import tomllib
from importlib import resources

from pydantic import ValidationError

from common.wire.feedback_prefs import SPOKEN_LANGUAGES
from gateway.feedback.phrasebook import Phrasebook, PhrasebookError

DEFAULT_LANGUAGE = "en"


def load_phrasebooks() -> dict[str, Phrasebook]:
    """Every catalogue, by language; raises ``PhrasebookError`` naming the file at fault."""
    books: dict[str, Phrasebook] = {}
    for entry in resources.files("gateway.feedback").joinpath("phrases").iterdir():
        if not entry.name.endswith(".toml"):
            continue
        try:
            book = Phrasebook.model_validate(tomllib.loads(entry.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError, PhrasebookError) as e:
            raise PhrasebookError(f"phrases/{entry.name}: {e}") from None
        if f"{book.language}.toml" != entry.name:
            raise PhrasebookError(f"phrases/{entry.name} says its language is {book.language!r}")
        books[book.language] = book
    if DEFAULT_LANGUAGE not in books:
        raise PhrasebookError(f"no phrases/{DEFAULT_LANGUAGE}.toml")
    if set(books) != set(SPOKEN_LANGUAGES):
        # The server offers clinicians exactly SPOKEN_LANGUAGES: a phrasebook it does not
        # offer, or a language offered without one, is a release mistake to catch here.
        raise PhrasebookError(
            f"phrases/ has {sorted(books)} but common.wire.feedback_prefs.SPOKEN_LANGUAGES "
            f"lists {sorted(SPOKEN_LANGUAGES)}"
        )
    return books
