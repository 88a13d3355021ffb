"""Shared fixtures-as-functions for the measurement mapping tests."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from common.wire.messages import DeviceIdentity
from gateway.catalogue.loader import load_catalogue
from gateway.catalogue.matching import Catalogue
from gateway.catalogue.models import DeviceModel

SHIPPED = Path(__file__).resolve().parents[2] / "firmware-config" / "devices"
LONDON = ZoneInfo("Europe/London")
ADDRESS = "C0:FF:EE:00:12:34"
# Summer time in London (UTC+1), so a forgotten time zone shows up as a one-hour error.
RECEIVED = datetime(2024, 7, 1, 9, 0, 0, tzinfo=UTC)


def h(text: str) -> bytes:
    """Hex with optional spaces, as written in gatt-and-devices.md."""
    return bytes.fromhex(text)


@cache
def _shipped_catalogue() -> Catalogue:
    return load_catalogue(SHIPPED)


def shipped(model_id: str) -> DeviceModel:
    return _shipped_catalogue().get(model_id)


def identity(model_id: str = "generic-blood-pressure", address: str = ADDRESS) -> DeviceIdentity:
    return shipped(model_id).identity(address)
