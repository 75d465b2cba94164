"""The org tree in memory, for questions asked many times in one job (escalation ladders)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from ticketing.extensions import db
from ticketing.models import OrgUnit, UnitKind

LEVEL_KINDS = (UnitKind.DISTRICT, UnitKind.CITY)


@dataclass(frozen=True)
class Node:
    id: int
    kind: UnitKind
    parent_id: int | None
    code: str


class OrgTree:
    """A snapshot of (some of) the org tree; build it once per job or request."""

    def __init__(self, nodes: Iterable[Node]):
        self.nodes = {n.id: n for n in nodes}
        self._chains: dict[int, list[int]] = {}

    @classmethod
    def load(cls, ids: Iterable[int] | None = None) -> OrgTree:
        """Load every unit, or only `ids` (which must include the ancestors asked about)."""
        query = select(OrgUnit.id, OrgUnit.kind, OrgUnit.parent_id, OrgUnit.code)
        if ids is not None:
            query = query.where(OrgUnit.id.in_(list(ids)))
        return cls(Node(*row) for row in db.session.execute(query))

    @classmethod
    def around(cls, unit: OrgUnit) -> OrgTree:
        """The unit and its ancestors: enough for `chain(unit.id)`."""
        return cls.load(unit.ancestor_ids())

    def chain(self, unit_id: int) -> list[int]:
        """Ids of the levels above a unit's owning level, nearest first (its escalation ladder).

        A street's ladder is [district, city]. A department or dispatch desk belongs to the
        level it hangs under, so a district department's ladder is [city] and a city
        dispatch desk has none; a district's own ladder is [city].
        """
        if unit_id not in self._chains:
            node = self.nodes[unit_id]
            owner = node
            if node.kind in (UnitKind.DEPARTMENT, UnitKind.DISPATCH) and node.parent_id in self.nodes:
                owner = self.nodes[node.parent_id]  # type: ignore[index]
            ladder = []
            parent = owner.parent_id
            while parent is not None and parent in self.nodes:
                above = self.nodes[parent]
                if above.kind in LEVEL_KINDS:
                    ladder.append(above.id)
                parent = above.parent_id
            self._chains[unit_id] = ladder
        return self._chains[unit_id]
