"""Catalogue.match: the shipped catalogue recognises each supported device, most specific first."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.catalogue.loader import load_catalogue, parse_model
from gateway.catalogue.matching import Catalogue
from gateway.gatt import uuids

SHIPPED = Path(__file__).resolve().parents[2] / "firmware-config" / "devices"
BP, PLX, WEIGHT, THERMO = "1810", "1822", "181d", "1809"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(SHIPPED)


@pytest.mark.parametrize(
    ("name", "services", "manufacturer", "expected"),
    [
        ("A&D_UA-651_0C2F", [BP], {}, "and-ua-651ble"),
        ("A&D_UA-651_0C2F", [], {}, "and-ua-651ble"),  # services not advertised: the name suffices
        ("UA-651BLE", [uuids.BLOOD_PRESSURE_SERVICE], {}, "and-ua-651ble"),  # bleak's 128-bit form
        ("BLEsmart_0000011F28FFB2A7B9D8", [BP], {0x020E: b"\x01\x00"}, "omron-hem-7322t"),
        ("BM57", [BP], {}, "generic-blood-pressure"),  # no capture of its layout: the standard one
        ("BM85", [BP], {}, "beurer-bm85"),
        ("BM 85", [], {}, "beurer-bm85"),
        ("BM851", [BP], {}, "generic-blood-pressure"),
        ("Nonin3230_502644123", [PLX], {}, "nonin-3230"),
        ("Nonin3230_502644123", ["46A970E0-0D5F-11E2-8B5E-0002A5D5C51B"], {}, "nonin-3230"),
        ("A&D_UC-352_1A2B", [WEIGHT], {}, "and-uc-352ble"),
        ("A&D_UT-201_1A2B", [THERMO], {}, "and-ut-201ble"),
        ("BerryMed", [uuids.BERRYMED_SERVICE], {}, "berrymed-bci"),
        ("BM1000", [], {}, "berrymed-bci"),
        # fallbacks by service only
        (None, [BP], {}, "generic-blood-pressure"),
        ("Some Cuff", [BP], {}, "generic-blood-pressure"),
        (None, [PLX], {}, "generic-pulse-oximeter"),
        ("Scale", ["0000181d-0000-1000-8000-00805f9b34fb"], {}, "generic-weight-scale"),
        (None, [THERMO], {}, "generic-thermometer"),
    ],
)
def test_match(
    catalogue: Catalogue, name: str | None, services: list[str], manufacturer: dict[int, bytes], expected: str
) -> None:
    model = catalogue.match(name, services, manufacturer)
    assert model is not None
    assert model.id == expected


def test_name_and_service_beat_service_only(catalogue: Catalogue) -> None:
    found = [m.id for m in catalogue.candidates("A&D_UA-651_0C2F", [BP], {})]
    assert found == ["and-ua-651ble", "generic-blood-pressure"]


@pytest.mark.parametrize(
    ("name", "services", "manufacturer"),
    [
        ("Polar H10 1234", ["180d"], {0x006B: b""}),  # a heart-rate strap: a real device we do not support
        ("Polar H10 1234", [], {}),
        ("A&D_UA-651_0C2F", ["180d"], {}),  # the name says cuff, the advertised services contradict it
        (None, [], {}),
    ],
)
def test_unsupported_device_matches_nothing(
    catalogue: Catalogue, name: str | None, services: list[str], manufacturer: dict[int, bytes]
) -> None:
    assert catalogue.match(name, services, manufacturer) is None


def test_contradicted_name_falls_back_to_what_the_services_say(catalogue: Catalogue) -> None:
    model = catalogue.match("A&D_UA-651_0C2F", [THERMO], {})
    assert model is not None
    assert model.id == "generic-thermometer"


def test_company_id_is_required_when_declared(catalogue: Catalogue) -> None:
    model = catalogue.match("BLEsmart_0000011F", [BP], {})  # Omron name, no Omron company id
    assert model is not None
    assert model.id == "generic-blood-pressure"


def test_garbled_service_uuids_are_ignored(catalogue: Catalogue) -> None:
    model = catalogue.match("BM1000", ["not-a-uuid", "zz"], {})
    assert model is not None
    assert model.id == "berrymed-bci"


def test_service_only_model_needs_the_service() -> None:
    """The "not advertised is not contradicted" allowance needs an identity match first."""
    model = parse_model(
        {
            "id": "only-service",
            "manufacturer": "any",
            "model": "x",
            "match": {"service_uuids": ["1810"]},
            "profile": "blood_pressure",
            "characteristics": [{"uuid": "2a35", "subscribe": "indicate"}],
            "bonding": "none",
            "clock": "none",
            "stored_readings": "none",
            "mode": "spot",
            "kinds": ["blood_pressure"],
        }
    )
    catalogue = Catalogue([model])
    assert catalogue.match("Anything", [], {}) is None
    assert catalogue.match("Anything", ["1810"], {}) is model


def test_ties_are_broken_by_id(catalogue: Catalogue) -> None:
    """Equal specificity must not depend on file-system order."""
    reversed_catalogue = Catalogue(reversed(catalogue.models))
    for name, services in [(None, [BP]), ("BerryMed", [uuids.BERRYMED_SERVICE])]:
        assert [m.id for m in catalogue.candidates(name, services)] == [
            m.id for m in reversed_catalogue.candidates(name, services)
        ]
