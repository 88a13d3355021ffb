"""A published capture fed through the path the hub runs for one notification.

The catalogue picks the model from the advertisement, and ``ReadingAssembler`` applies that model's
quirks, decodes and maps the result to wire readings or a ``Refusal``. The capture tests check both
ends: the decoded fields against what the source says the bytes hold, and what the hub would do with
them, because a correct decoder is no use if the reading then never reaches a clinician (or reaches
one when it should not).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from common.wire.messages import Reading
from gateway.catalogue.loader import load_catalogue
from gateway.catalogue.matching import Catalogue
from gateway.catalogue.models import DeviceModel
from gateway.measurements.assembler import ReadingAssembler
from gateway.measurements.refusals import Refusal

__all__ = ["HOUSEHOLD", "feed", "local", "model_for", "one_reading", "received_after", "refusal"]

HOUSEHOLD = ZoneInfo("Europe/London")
ADDRESS = "C0:FF:EE:00:CA:9E"


@cache
def _catalogue() -> Catalogue:
    return load_catalogue()


def model_for(
    name: str | None, service_uuids: Sequence[str], manufacturer_ids: Sequence[int] = ()
) -> DeviceModel:
    """The shipped catalogue's model for an advertisement, as the hub's scanner would pick it."""
    model = _catalogue().match(name, service_uuids, {company: b"" for company in manufacturer_ids})
    assert model is not None, f"no catalogue model for {name!r} advertising {list(service_uuids)}"
    return model


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock time in the household's zone (device timestamps are naive local time)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=HOUSEHOLD)


def received_after(device_time: datetime, minutes: int = 2) -> datetime:
    """A hub receive time just after the device's own timestamp, so the device clock is trusted and
    ``taken_at`` is the device's time: the capture's timestamp is then visible in the reading."""
    return device_time + timedelta(minutes=minutes)


def feed(
    model: DeviceModel, characteristic: str, data: bytes, received_at: datetime
) -> list[Reading | Refusal]:
    return ReadingAssembler(model, model.identity(ADDRESS), HOUSEHOLD).feed(characteristic, data, received_at)


def one_reading(model: DeviceModel, characteristic: str, data: bytes, received_at: datetime) -> Reading:
    results = feed(model, characteristic, data, received_at)
    assert len(results) == 1, results
    (result,) = results
    assert isinstance(result, Reading), result
    assert [raw.payload() for raw in result.raw] == [data]  # the bytes as received travel with it
    return result


def refusal(model: DeviceModel, characteristic: str, data: bytes, received_at: datetime) -> Refusal:
    results = feed(model, characteristic, data, received_at)
    assert len(results) == 1, results
    (result,) = results
    assert isinstance(result, Refusal), result
    assert result.raw == data  # a refused packet keeps its bytes for the support ticket
    return result
