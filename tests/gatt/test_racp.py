"""Record Access Control Point 0x2A52, constructed per GATT Specification Supplement §3.178 and the
op code / operator / response code tables in gatt-and-devices.md."""

from __future__ import annotations

import pytest

from gateway.gatt import decode
from gateway.gatt.errors import DecodeError
from gateway.gatt.racp import (
    RacpNumberOfRecords,
    RacpOpCode,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    abort_operation,
    decode_racp_request,
    decode_racp_response,
    delete_all_records,
    encode_number_of_records_response,
    encode_response_code,
    report_first_record,
    report_last_record,
    report_number_of_records_from_sequence,
)
from tests.gatt.helpers import h


def test_request_builders() -> None:
    assert delete_all_records() == h("02 01")
    assert abort_operation() == h("03 00")
    assert report_first_record() == h("01 05")
    assert report_last_record() == h("01 06")
    assert report_number_of_records_from_sequence(0x1234) == h("04 03 01 34 12")
    with pytest.raises(ValueError, match="sequence"):
        report_number_of_records_from_sequence(0x10000)


@pytest.mark.parametrize("code", list(RacpResponseCode))
@pytest.mark.parametrize("op", [1, 2, 3, 4, 0x7F])
def test_every_response_code(code: RacpResponseCode, op: int) -> None:
    data = encode_response_code(op, code)
    value = decode("2a52", data)
    assert value == RacpResponse(op, code)
    assert isinstance(value, RacpResponse)
    assert value.success == (code in (RacpResponseCode.SUCCESS, RacpResponseCode.NO_RECORDS_FOUND))


@pytest.mark.parametrize("count", [0, 1, 258, 0xFFFF])
def test_number_of_records(count: int) -> None:
    assert decode_racp_response(encode_number_of_records_response(count)) == RacpNumberOfRecords(count)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "shorter"),
        ("06", "shorter"),
        ("06 00 01", "4 bytes"),
        ("06 00 01 01 00", "4 bytes"),
        ("05 00 02", "4 bytes"),
        ("05 00 02 01 00", "4 bytes"),
        ("06 00 01 00", "reserved response code 0"),
        ("06 00 01 0A", "reserved response code 10"),
        ("06 01 01 01", "operator must be Null"),
        ("01 00", "request, not a response"),
        ("07 00", "reserved op code"),
        ("00 00", "reserved op code"),
    ],
)
def test_malformed_responses(raw: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_racp_response(h(raw))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01 01", RacpRequest(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS)),
        ("03 00", RacpRequest(RacpOpCode.ABORT_OPERATION, RacpOperator.NULL)),
        (
            "01 03 01 0A 00",
            RacpRequest(
                RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.GREATER_THAN_OR_EQUAL, 1, h("0A 00"), 10
            ),
        ),
        (
            "02 02 01 05 00",
            RacpRequest(
                RacpOpCode.DELETE_STORED_RECORDS, RacpOperator.LESS_THAN_OR_EQUAL, 1, h("05 00"), None, 5
            ),
        ),
        (
            "04 04 01 01 00 09 00",
            RacpRequest(
                RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
                RacpOperator.WITHIN_RANGE,
                1,
                h("01 00 09 00"),
                1,
                9,
            ),
        ),
        (
            "01 03 02 E8 07 01 01 00 00 00",
            RacpRequest(
                RacpOpCode.REPORT_STORED_RECORDS,
                RacpOperator.GREATER_THAN_OR_EQUAL,
                2,
                h("E8 07 01 01 00 00 00"),
            ),
        ),
    ],
)
def test_decode_requests(raw: str, expected: RacpRequest) -> None:
    assert decode_racp_request(h(raw)) == expected


@pytest.mark.parametrize(
    "raw", ["", "01", "01 07", "09 01", "05 00", "01 03", "01 03 01 0A", "01 04 01 0A 00", "01 01 00"]
)
def test_malformed_requests(raw: str) -> None:
    with pytest.raises(DecodeError):
        decode_racp_request(h(raw))
