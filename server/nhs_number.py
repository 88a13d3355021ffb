"""The NHS number: ten digits whose last is a Modulus 11 check digit over the first nine.

Checked wherever a number enters (the enrolment form, the API, the command line), so a
mistyped digit is caught at the desk, not when a record fails to match the GP's. Pure:
no I/O, so the pages and the command line share exactly this rule.
"""

from __future__ import annotations

import re

_SPACING = re.compile(r"[\s-]")


class InvalidNhsNumber(ValueError):
    """A number that is not a valid NHS number; the message says why in plain words."""


def normalised(text: str) -> str:
    """The ten digits of an NHS number as typed (``943 476 5919``, ``943-476-5919``), checked.

    Raises :class:`InvalidNhsNumber` for anything but ten digits with a correct check digit.
    """
    digits = _SPACING.sub("", text)
    if not digits.isascii() or not digits.isdigit() or len(digits) != 10:
        raise InvalidNhsNumber("NHS number must be 10 digits")
    if check_digit(digits[:9]) != int(digits[9]):
        raise InvalidNhsNumber("NHS number is not valid: check it has been typed correctly")
    return digits


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit of nine digits (weights 10 down to 2), or None when the
    remainder gives 10: no NHS number is issued with those nine digits."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def formatted(digits: str) -> str:
    """The NHS number as people read it: 3-3-4 (``943 476 5919``)."""
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else digits
