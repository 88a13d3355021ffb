"""Record Access Control Point 0x2A52: fetching the readings a device stored while the hub was away.

The hub writes a request and gets stored measurements as a burst on the measurement characteristic,
closed by a Response Code indication on the RACP. Requests are built here as bytes; indications decode to
``RacpResponse`` or ``RacpNumberOfRecords``. ``decode_racp_request`` exists for emulated devices.

Responses are checked strictly (operator must be Null, operand length exact, response code defined):
a hub that misreads "procedure not completed" as success would discard the device's only copy of a
reading when it later deletes records. The request op code echoed in a response is kept as a plain int
because the device echoes whatever the hub sent, including op codes it does not support.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from gateway.gatt.errors import DecodeError

__all__ = [
    "FILTER_SEQUENCE_NUMBER",
    "FILTER_USER_FACING_TIME",
    "RacpNumberOfRecords",
    "RacpOpCode",
    "RacpOperator",
    "RacpRequest",
    "RacpResponse",
    "RacpResponseCode",
    "abort_operation",
    "build_racp_request",
    "decode_racp_request",
    "decode_racp_response",
    "delete_all_records",
    "encode_number_of_records_response",
    "encode_response_code",
    "report_all_records",
    "report_first_record",
    "report_last_record",
    "report_number_of_all_records",
    "report_number_of_records_from_sequence",
    "report_records_from_sequence",
]

FILTER_SEQUENCE_NUMBER: Final = 0x01
FILTER_USER_FACING_TIME: Final = 0x02


class RacpOpCode(IntEnum):
    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT_OPERATION = 3
    REPORT_NUMBER_OF_STORED_RECORDS = 4
    NUMBER_OF_STORED_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class RacpOperator(IntEnum):
    NULL = 0
    ALL_RECORDS = 1
    LESS_THAN_OR_EQUAL = 2
    GREATER_THAN_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST_RECORD = 5
    LAST_RECORD = 6


class RacpResponseCode(IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """End of a RACP procedure."""

    request_op_code: int
    response_code: RacpResponseCode

    @property
    def success(self) -> bool:
        """ "No records found" counts as success: the procedure completed and there is nothing to fetch."""
        return self.response_code in (RacpResponseCode.SUCCESS, RacpResponseCode.NO_RECORDS_FOUND)


@dataclass(frozen=True, slots=True)
class RacpNumberOfRecords:
    count: int


@dataclass(frozen=True, slots=True)
class RacpRequest:
    """A request as a device sees it. Sequence bounds are filled in for the sequence-number filter."""

    op_code: RacpOpCode
    operator: RacpOperator
    filter_type: int | None = None
    operand: bytes = b""
    minimum_sequence: int | None = None
    maximum_sequence: int | None = None


def build_racp_request(
    op_code: RacpOpCode, operator: RacpOperator, operand: bytes = b"", *, filter_type: int | None = None
) -> bytes:
    """Raw request; prefer the named helpers below."""
    head = bytes((op_code, operator))
    if filter_type is not None:
        head += bytes((filter_type,))
    return head + operand


def report_all_records() -> bytes:
    return build_racp_request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def report_first_record() -> bytes:
    return build_racp_request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.FIRST_RECORD)


def report_last_record() -> bytes:
    return build_racp_request(RacpOpCode.REPORT_STORED_RECORDS, RacpOperator.LAST_RECORD)


def report_number_of_all_records() -> bytes:
    return build_racp_request(RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def _sequence(sequence: int) -> bytes:
    if not 0 <= sequence <= 0xFFFF:
        raise ValueError(f"sequence number out of range: {sequence}")
    return sequence.to_bytes(2, "little")


def report_records_from_sequence(sequence: int) -> bytes:
    """Records with sequence number ≥ ``sequence``: how the hub resumes after the last one it stored."""
    return build_racp_request(
        RacpOpCode.REPORT_STORED_RECORDS,
        RacpOperator.GREATER_THAN_OR_EQUAL,
        _sequence(sequence),
        filter_type=FILTER_SEQUENCE_NUMBER,
    )


def report_number_of_records_from_sequence(sequence: int) -> bytes:
    return build_racp_request(
        RacpOpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        RacpOperator.GREATER_THAN_OR_EQUAL,
        _sequence(sequence),
        filter_type=FILTER_SEQUENCE_NUMBER,
    )


def delete_all_records() -> bytes:
    return build_racp_request(RacpOpCode.DELETE_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def abort_operation() -> bytes:
    return build_racp_request(RacpOpCode.ABORT_OPERATION, RacpOperator.NULL)


def decode_racp_response(data: bytes) -> RacpResponse | RacpNumberOfRecords:
    """A RACP indication from the device."""
    if len(data) < 2:
        raise DecodeError(f"0x2A52: {len(data)} bytes is shorter than the 2-byte minimum")
    op_code, operator = data[0], data[1]
    if operator != RacpOperator.NULL:
        raise DecodeError(f"0x2A52: response operator must be Null (0), got {operator}")
    if op_code == RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        if len(data) != 4:
            raise DecodeError(f"0x2A52: number-of-records response must be 4 bytes, got {len(data)}")
        return RacpNumberOfRecords(data[2] | data[3] << 8)
    if op_code == RacpOpCode.RESPONSE_CODE:
        if len(data) != 4:
            raise DecodeError(f"0x2A52: response-code response must be 4 bytes, got {len(data)}")
        try:
            code = RacpResponseCode(data[3])
        except ValueError:
            raise DecodeError(f"0x2A52: reserved response code {data[3]}") from None
        return RacpResponse(data[2], code)
    if op_code in (1, 2, 3, 4):
        raise DecodeError(f"0x2A52: op code {op_code} is a request, not a response")
    raise DecodeError(f"0x2A52: reserved op code {op_code}")


def decode_racp_request(data: bytes) -> RacpRequest:
    """A request as written by the hub; for emulated devices and the simulator."""
    if len(data) < 2:
        raise DecodeError(f"0x2A52: {len(data)} bytes is shorter than the 2-byte minimum")
    try:
        op_code = RacpOpCode(data[0])
        operator = RacpOperator(data[1])
    except ValueError:
        raise DecodeError(f"0x2A52: reserved op code {data[0]} or operator {data[1]}") from None
    if op_code not in (1, 2, 3, 4):
        raise DecodeError(f"0x2A52: op code {op_code} is a response, not a request")
    if operator in (
        RacpOperator.LESS_THAN_OR_EQUAL,
        RacpOperator.GREATER_THAN_OR_EQUAL,
        RacpOperator.WITHIN_RANGE,
    ):
        if len(data) < 3:
            raise DecodeError(f"0x2A52: operator {operator.name} needs a filter type and operand")
        filter_type, operand = data[2], bytes(data[3:])
        low = high = None
        if filter_type == FILTER_SEQUENCE_NUMBER:
            expected = 4 if operator is RacpOperator.WITHIN_RANGE else 2
            if len(operand) != expected:
                raise DecodeError(f"0x2A52: sequence operand must be {expected} bytes, got {len(operand)}")
            first = operand[0] | operand[1] << 8
            if operator is RacpOperator.LESS_THAN_OR_EQUAL:
                high = first
            elif operator is RacpOperator.GREATER_THAN_OR_EQUAL:
                low = first
            else:
                low, high = first, operand[2] | operand[3] << 8
        return RacpRequest(op_code, operator, filter_type, operand, low, high)
    if len(data) != 2:
        raise DecodeError(f"0x2A52: operator {operator.name} takes no operand")
    return RacpRequest(op_code, operator)


def encode_response_code(request_op_code: int, response_code: RacpResponseCode) -> bytes:
    """Response Code indication an emulated device sends at the end of a procedure."""
    return bytes((RacpOpCode.RESPONSE_CODE, RacpOperator.NULL, request_op_code, response_code))


def encode_number_of_records_response(count: int) -> bytes:
    return bytes((RacpOpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, RacpOperator.NULL)) + _sequence(count)
