"""The NHS number's Modulus 11 check, on numbers with known answers, and enrolment refusing
a number that fails it (the path the API, the pages and the command line share)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.nhs_number import InvalidNhsNumber, check_digit, formatted, normalised
from server.provisioning import ProvisioningError, add_patient
from server.store.database import Database
from server.store.models import Patient


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("9434765919", "9434765919"),  # NHS Digital's published example
        ("943 476 5919", "9434765919"),
        ("943-476-5919", "9434765919"),
        ("4010232137", "4010232137"),
        ("9999999999", "9999999999"),  # check digit 9: 9 x (10+...+2) = 486, 486 % 11 = 2
        ("1000000060", "1000000060"),  # remainder 0: the check digit is 0, not 11
    ],
)
def test_valid_numbers_are_kept_as_ten_digits(typed: str, digits: str) -> None:
    assert normalised(typed) == digits


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("9434765918", "not valid"),  # one digit off
        ("9434765991", "not valid"),  # two digits swapped
        ("1234", "10 digits"),
        ("94347659190", "10 digits"),
        ("943476591X", "10 digits"),
        ("", "10 digits"),
        ("٩٤٣٤٧٦٥٩١٩", "10 digits"),  # Arabic-Indic digits are digits to Python, not to the NHS
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(typed: str, why: str) -> None:
    with pytest.raises(InvalidNhsNumber, match=why):
        normalised(typed)


def test_nine_digits_whose_remainder_gives_ten_have_no_valid_number() -> None:
    assert check_digit("100000001") is None  # 10 + 2 = 12, 12 % 11 = 1, 11 - 1 = 10
    assert all(_refused(f"100000001{d}") for d in range(10))


def _refused(number: str) -> bool:
    try:
        normalised(number)
    except InvalidNhsNumber:
        return True
    return False


def test_the_number_is_shown_3_3_4() -> None:
    assert formatted("9434765919") == "943 476 5919"


def test_enrolment_refuses_an_invalid_or_taken_nhs_number(database: Database) -> None:
    with pytest.raises(ProvisioningError, match="not valid"):
        add_patient(database, "p-nhs-1", "Ann Bad", actor="test", nhs_number="9434765918")
    add_patient(database, "p-nhs-1", "Ann Good", actor="test", nhs_number="943 476 5919")
    with pytest.raises(ProvisioningError, match="already enrolled"):
        add_patient(database, "p-nhs-2", "Ann Again", actor="test", nhs_number="9434765919")
    with database.session() as s:
        assert [(p.id, p.nhs_number) for p in s.scalars(select(Patient))] == [("p-nhs-1", "9434765919")]
