"""Loading and validating the device catalogue: every shipped file loads, every mistake is named."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.wire.vocabulary import ReadingKind
from gateway.catalogue.errors import CatalogueError
from gateway.catalogue.loader import (
    CATALOGUE_ENV,
    default_catalogue_dir,
    load_catalogue,
    load_model,
    parse_model,
)
from gateway.catalogue.matching import Catalogue
from gateway.catalogue.models import ClockSetting, Mode, Profile, StoredReadings
from gateway.gatt import supported_characteristics, uuids
from gateway.gatt.quirks import QUIRKS

SHIPPED = Path(__file__).resolve().parents[2] / "firmware-config" / "devices"

VALID: dict[str, Any] = {
    "id": "test-cuff",
    "manufacturer": "Test",
    "model": "Cuff 1",
    "match": {"names": ["^TestCuff"], "service_uuids": ["1810"]},
    "profile": "blood_pressure",
    "characteristics": [{"uuid": "2a35", "subscribe": "indicate"}],
    "quirks": [],
    "bonding": "none",
    "clock": "current_time",
    "stored_readings": "none",
    "mode": "spot",
    "kinds": ["blood_pressure"],
}


def valid(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    data.update(changes)
    return data


def write(directory: Path, name: str, data: object) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def shipped_files() -> list[Path]:
    return sorted(SHIPPED.glob("*.yaml"))


def test_shipped_catalogue_is_where_the_default_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    assert default_catalogue_dir().resolve() == SHIPPED


@pytest.mark.parametrize("path", shipped_files(), ids=lambda p: p.name)
def test_every_shipped_file_loads(path: Path) -> None:
    model = load_model(path)
    assert model.source == str(path)
    assert path.stem == model.id  # one file per model, named after it
    for characteristic in model.characteristics:
        assert characteristic.uuid in supported_characteristics()
    assert set(model.quirks) <= set(QUIRKS)


def test_shipped_catalogue_covers_the_supported_devices() -> None:
    catalogue = load_catalogue(SHIPPED)
    assert len(catalogue) == len(shipped_files()) >= 11
    by_id = {m.id: m for m in catalogue}
    ua651 = by_id["and-ua-651ble"]
    assert (ua651.clock, ua651.stored_readings, ua651.bonding.value) == (
        ClockSetting.DATE_TIME,
        StoredReadings.BURST_THEN_DISCONNECT,
        "required",
    )
    assert by_id["omron-hem-7322t"].clock is ClockSetting.CURRENT_TIME
    assert by_id["omron-hem-7322t"].bonding.value == "required"
    assert by_id["beurer-bm85"].quirks == (  # the order matters: swap the layout, then read the MAP
        "bp_pulse_status_big_endian_user_id_always",
        "bp_map_zero_not_available",
    )
    nonin = by_id["nonin-3230"]
    assert {c.uuid for c in nonin.characteristics} == {
        uuids.PLX_SPOT_CHECK_MEASUREMENT,
        uuids.PLX_CONTINUOUS_MEASUREMENT,
    }
    berrymed = by_id["berrymed-bci"]
    assert (berrymed.profile, berrymed.mode, berrymed.frame_rate_hz) == (
        Profile.BERRYMED,
        Mode.CONTINUOUS,
        100,
    )
    produced = {kind for m in catalogue for kind in m.kinds}
    assert produced == {
        ReadingKind.BLOOD_PRESSURE,
        ReadingKind.SPO2,
        ReadingKind.WEIGHT,
        ReadingKind.TEMPERATURE,
    }
    assert {m.profile for m in catalogue} == set(Profile) - {Profile.PLX_CONTINUOUS}


def test_env_var_overrides_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "test-cuff.yaml", valid())
    monkeypatch.setenv(CATALOGUE_ENV, str(tmp_path))
    assert default_catalogue_dir() == tmp_path
    assert [m.id for m in load_catalogue()] == ["test-cuff"]


def test_uuids_in_any_spelling_are_normalised() -> None:
    model = parse_model(
        valid(
            match={"service_uuids": ["0x1810", "00001810-0000-1000-8000-00805F9B34FB"]},
            characteristics=[
                {"uuid": "0x2A35", "subscribe": "indicate"},
                {"uuid": "00002a36-0000-1000-8000-00805f9b34fb", "subscribe": "notify", "required": False},
            ],
        )
    )
    assert model.match.service_uuids == (uuids.BLOOD_PRESSURE_SERVICE,)  # duplicates collapse
    assert [c.uuid for c in model.characteristics] == [
        uuids.BLOOD_PRESSURE_MEASUREMENT,
        uuids.INTERMEDIATE_CUFF_PRESSURE,
    ]
    assert [c.short_uuid for c in model.characteristics] == ["2a35", "2a36"]
    assert model.characteristic("2A36") is model.characteristics[1]
    assert model.characteristic("2a5e") is None
    assert model.characteristic("not a uuid") is None


def test_identity_carries_the_catalogue_id() -> None:
    identity = parse_model(valid()).identity("AA:BB:CC:DD:EE:FF", serial="123")
    assert (identity.model, identity.manufacturer, identity.serial) == ("test-cuff", "Test", "123")


# (changes to the valid document, field named in the error, words in the message)
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"quirks": ["bp_big_endian_typo"]}, "quirks", "unknown quirk"),
    ({"match": {"names": ["^Test(Cuff"]}}, "match.names", "bad regular expression"),
    ({"profile": "glucose"}, "profile", "blood_pressure"),
    ({"kinds": ["glucose"]}, "kinds[0]", "blood_pressure"),
    ({"kinds": ["weight"]}, "kinds", "cannot produce ['weight']"),
    ({"match": {"service_uuids": ["1801"]}}, "match.service_uuids", "unknown SIG service 0x1801"),
    ({"match": {"service_uuids": ["18100"]}}, "match.service_uuids", "not a Bluetooth UUID"),
    ({"match": {"manufacturer_ids": [0x10000]}}, "match.manufacturer_ids[0]", "less than or equal"),
    ({"match": {}}, "match", "at least one"),
    (
        {
            "characteristics": [
                {"uuid": "2a35", "subscribe": "indicate"},
                {"uuid": "2a99", "subscribe": "notify"},
            ]
        },
        "characteristics[1].uuid",
        "no decoder for characteristic 0x2A99",
    ),
    (
        {"characteristics": [{"uuid": "2a35", "subscribe": "read"}]},
        "characteristics[0].subscribe",
        "indicate",
    ),
    ({"characteristics": [{"uuid": "2a36", "subscribe": "notify"}]}, "characteristics", "needs 0x2A35"),
    (
        {"characteristics": [{"uuid": "2a35", "subscribe": "indicate", "required": False}]},
        "characteristics",
        "cannot be optional",
    ),
    ({"mode": "continuous"}, "mode", "profile blood_pressure is spot"),
    ({"frame_rate_hz": 50}, "frame_rate_hz", "only meaningful for continuous"),
    ({"stored_readings": "racp"}, "characteristics", "2a52"),
    ({"bonding": "sometimes"}, "bonding", "required"),
    ({"clock": "ntp"}, "clock", "current_time"),
    ({"id": "Test Cuff"}, "id", "pattern"),
    ({"colour": "blue"}, "colour", "Extra inputs"),
    ({"source": "elsewhere"}, "source", "set by the loader"),
]


@pytest.mark.parametrize(("changes", "field", "words"), BAD, ids=[f"{b[1]}:{b[2]}" for b in BAD])
def test_bad_field_names_file_and_field(
    tmp_path: Path, changes: dict[str, Any], field: str, words: str
) -> None:
    path = write(tmp_path, "broken.yaml", valid(**changes))
    with pytest.raises(CatalogueError) as caught:
        load_model(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: field {field}"), message
    assert words in message


def test_missing_field_is_named(tmp_path: Path) -> None:
    data = valid()
    del data["bonding"]
    path = write(tmp_path, "broken.yaml", data)
    with pytest.raises(CatalogueError, match=rf"^{re.escape(str(path))}: field bonding: Field required"):
        load_model(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nmatch: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=rf"^{re.escape(str(path))}: not valid YAML \(line \d+"):
        load_model(path)


def test_document_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", ["id", "x"])
    with pytest.raises(CatalogueError, match="expected a mapping"):
        load_model(path)


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", valid())
    write(tmp_path, "b.yaml", valid(match={"names": ["^Other"]}))
    with pytest.raises(CatalogueError, match=r"b\.yaml: field id: 'test-cuff' is already used by .*a\.yaml"):
        load_catalogue(tmp_path)


def test_identical_match_rules_are_rejected(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", valid())
    write(tmp_path, "b.yaml", valid(id="test-cuff-2"))
    with pytest.raises(CatalogueError, match=r"b\.yaml: field match: identical to .*a\.yaml"):
        load_catalogue(tmp_path)


def test_every_broken_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", valid(quirks=["nope"]))
    write(tmp_path, "two.yaml", valid(id="two", profile="glucose"))
    write(tmp_path, "fine.yaml", valid(id="fine", match={"names": ["^Fine"]}))
    (tmp_path / "README.md").write_text("not a device", encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(tmp_path)
    assert "one.yaml: field quirks" in str(caught.value)
    assert "two.yaml: field profile" in str(caught.value)


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no device files"):
        load_catalogue(tmp_path)
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "absent")


def test_new_standard_device_needs_only_a_yaml_file(tmp_path: Path) -> None:
    """The acceptance test for "no code per device": a made-up continuous PLX oximeter and a thermometer
    with a float32 quirk, written as files only, load and match."""
    write(
        tmp_path,
        "acme-ox.yaml",
        valid(
            id="acme-ox",
            match={"names": ["^ACME-OX"], "manufacturer_ids": [0x0ABC]},
            profile="plx_continuous",
            characteristics=[{"uuid": "2a5f", "subscribe": "notify"}],
            mode="continuous",
            kinds=["spo2"],
            frame_rate_hz=2,
        ),
    )
    write(
        tmp_path,
        "cheap-thermo.yaml",
        valid(
            id="cheap-thermo",
            match={"names": ["(?i)^thermo"]},
            profile="thermometer",
            characteristics=[{"uuid": "2a1c", "subscribe": "indicate"}],
            quirks=["temperature_ieee754_float32"],
            kinds=["temperature"],
        ),
    )
    catalogue = load_catalogue(tmp_path)
    assert catalogue.get("acme-ox").frame_rate_hz == 2
    model = catalogue.match("ACME-OX 7", [], {0x0ABC: b"\x01"})
    assert model is not None
    assert model.id == "acme-ox"
    matched = catalogue.match("THERMO-9", [], {})
    assert matched is not None
    assert matched.id == "cheap-thermo"


def test_catalogue_lookup() -> None:
    catalogue = Catalogue([parse_model(valid())])
    assert "test-cuff" in catalogue
    assert catalogue.get("test-cuff").model == "Cuff 1"
    with pytest.raises(KeyError, match="known: \\['test-cuff'\\]"):
        catalogue.get("nope")


def test_a_failing_only_item_is_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", valid(characteristics=[{"uuid": "2a99", "subscribe": "notify"}]))
    with pytest.raises(CatalogueError) as caught:
        load_model(path)
    assert str(caught.value).count("\n") == 0, str(caught.value)
