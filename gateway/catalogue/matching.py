"""The loaded catalogue, answering "which model is this advertisement?".

Among matching models the most specific wins, so a model recognised by its name beats the service-only
``generic-*`` fallbacks, which exist so any standard device works before it has a file of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Final

from gateway.catalogue.errors import CatalogueError
from gateway.catalogue.models import DeviceModel, MatchRule
from gateway.gatt import uuids
from gateway.gatt.errors import DecodeError

__all__ = ["Catalogue", "match_score"]

_NO_MANUFACTURER_DATA: Final[Mapping[int, bytes]] = MappingProxyType({})

# Match specificity weights: a name pattern identifies a model, a company id a manufacturer, an
# advertised service only a capability. Name + service (5) therefore beats service alone (1).
_NAME_WEIGHT: Final = 4
_MANUFACTURER_WEIGHT: Final = 2
_SERVICE_WEIGHT: Final = 1


def match_score(
    rule: MatchRule, name: str | None, service_uuids: frozenset[str], manufacturer_ids: frozenset[int]
) -> int | None:
    """Specificity of a match, ``None`` for no match.

    Names and company ids identify a device, so when declared they must match. Service UUIDs must
    match too, except when the advertisement lists no services at all and an identity criterion
    already matched: many devices leave services out of their advertisement, and "not advertised"
    is not "contradicted".
    """
    score = 0
    if rule.names:
        if name is None or not any(re.search(p, name) for p in rule.names):
            return None
        score += _NAME_WEIGHT
    if rule.manufacturer_ids:
        if not manufacturer_ids & set(rule.manufacturer_ids):
            return None
        score += _MANUFACTURER_WEIGHT
    if rule.service_uuids:
        if service_uuids & set(rule.service_uuids):
            score += _SERVICE_WEIGHT
        elif service_uuids or score == 0:
            return None
    return score


class Catalogue:
    """All supported models, answering "which model is this advertisement?"."""

    __slots__ = ("_by_id", "models")

    def __init__(self, models: Iterable[DeviceModel]) -> None:
        self.models: tuple[DeviceModel, ...] = tuple(models)
        self._by_id: dict[str, DeviceModel] = {}
        seen_rules: dict[MatchRule, DeviceModel] = {}
        for model in self.models:
            other = self._by_id.get(model.id)
            if other is not None:
                raise CatalogueError(
                    f"{model.source}: field id: {model.id!r} is already used by {other.source}"
                )
            self._by_id[model.id] = model
            # Identical match rules would make the choice between two models arbitrary.
            twin = seen_rules.get(model.match)
            if twin is not None:
                raise CatalogueError(
                    f"{model.source}: field match: identical to {twin.source} ({twin.id}); "
                    "the hub could not tell the two apart"
                )
            seen_rules[model.match] = model

    def __iter__(self) -> Iterator[DeviceModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id

    def get(self, model_id: str) -> DeviceModel:
        """The model with this id; ``KeyError`` names the known ids."""
        try:
            return self._by_id[model_id]
        except KeyError:
            raise KeyError(f"no device model {model_id!r}; known: {sorted(self._by_id)}") from None

    def candidates(
        self,
        name: str | None,
        service_uuids: Sequence[str] = (),
        manufacturer_data: Mapping[int, bytes] = _NO_MANUFACTURER_DATA,
    ) -> list[DeviceModel]:
        """Every matching model, most specific first (ties by id, so the order is stable)."""
        services = set()
        for raw in service_uuids:
            try:
                services.add(uuids.normalize_uuid(raw))
            except DecodeError:
                continue  # a garbled advertisement must not stop the scan
        scored = []
        for model in self.models:
            score = match_score(model.match, name, frozenset(services), frozenset(manufacturer_data))
            if score is not None:
                scored.append((-score, model.id, model))
        return [model for _, _, model in sorted(scored, key=lambda t: (t[0], t[1]))]

    def match(
        self,
        name: str | None,
        service_uuids: Sequence[str] = (),
        manufacturer_data: Mapping[int, bytes] = _NO_MANUFACTURER_DATA,
    ) -> DeviceModel | None:
        """The most specific model for an advertisement (bleak's local name, service UUIDs and
        manufacturer data), or ``None`` when the device is not supported."""
        found = self.candidates(name, service_uuids, manufacturer_data)
        return found[0] if found else None
