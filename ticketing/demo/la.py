"""A third world: the City of Los Angeles with its 99 neighbourhood councils, for the hotline bridge.

The real MyLA311 samples in `data/la311/` (see its PROVENANCE) record for every request the
neighbourhood council (NC) it lies in. Here each certified NC is a street-level unit with its
real polygon as one boundary generation, so importing those requests (`flask hotline import`)
routes them exactly like any report and can be checked against what LA recorded.

The tree: city 洛杉矶市 (``LA``) → its dispatch desk (``LA-PD``) and the 12 NC regions as
district-level units (``LA-R01`` … ``LA-R12``, the regions of `nc_data.csv`) → the 99 NCs
(``LA-NC-004`` … ``LA-NC-128``: the NC id, zero-padded so codes sort like numbers, which is
the router's tie-break on shared borders). Two city departments take the categories routed to
departments: LA Sanitation & Environment (``LA-SAN``) for what the Chinese default calls the
law-enforcement bureau's (illegal dumping, fumes, noise), and LADOT (``LA-DOT``) for traffic
signals. Working time still follows the deployment's calendar and time zone: this is a test
and demo world for routing and the bridge, not a localisation of the product for LA.

Load it into a database of its own (one boundary generation is active at a time)::

    DATABASE_URL=sqlite:///var/la.db flask db upgrade
    DATABASE_URL=sqlite:///var/la.db flask demo load --city la
    DATABASE_URL=sqlite:///var/la.db flask hotline import data/la311/la311_2020-01_sample_10k.csv
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

from ticketing.demo import DATA, DemoUser, create_users, import_boundaries
from ticketing.extensions import db
from ticketing.services import org
from ticketing.services.categories import LAW_ENFORCEMENT, TRAFFIC_POLICE, seed_categories
from ticketing.worktime import seed_calendar

LA_CITY = "LA"
LA_DISPATCH = "LA-PD"
LA_DATA = DATA / "la311"
BOUNDARIES = LA_DATA / "la_neighborhood_councils_certified.geojson"
NC_TABLE = LA_DATA / "nc_data.csv"
# Usernames start with la_ so that they never collide with the other demos' users.
LA_USERS: tuple[DemoUser, ...] = (
    DemoUser("la_handler_echo_park", "Echo Park NC, handler", "handler", "LA-NC-044", "handler, Echo Park NC"),
    DemoUser("la_handler_sanitation", "LA Sanitation, handler", "handler", "LA-SAN", "handler, LA Sanitation"),
    DemoUser("la_supervisor_central", "Central 1 region, supervisor", "supervisor", "LA-R05", "supervisor, region 5"),
    DemoUser("la_supervisor_city", "City of LA, supervisor", "supervisor", LA_CITY, "supervisor, Los Angeles"),
    DemoUser("la_admin", "LA admin", "admin", None, "admin"),
)


def nc_code(nc_id: str | int) -> str:
    """The unit code of a neighbourhood council by its LA id (``44`` → ``LA-NC-044``)."""
    return f"LA-NC-{int(nc_id):03d}"


def councils(path: Path = NC_TABLE) -> list[tuple[str, str, int, str]]:
    """(nc_id, name, region number, region name) of every certified NC, by id."""
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            # "REGION 8 - NORTH EAST LA" → 8, "North East La"
            match = re.fullmatch(r"REGION (\d+) - (.+)", row["service_re"].strip())
            if match is None:
                raise ValueError(f"{path.name}: unexpected region {row['service_re']!r}")
            out.append((row["nc_id"].strip(), row["name"].strip(), int(match[1]), match[2].title()))
    return sorted(out, key=lambda c: int(c[0]))


def build_la(now: datetime) -> dict[str, int]:
    """Create the Los Angeles org tree, the 99 NC polygons (one generation, activated) and users. Flushes.

    Categories and the calendar are seeded only where missing, so this also runs in an
    empty database (`flask demo load --city la`).
    """
    categories = seed_categories()
    seed_calendar(db.session, now)
    org.add_unit(code=LA_CITY, name="洛杉矶市", name_en="Los Angeles", kind="city")
    org.add_unit(code=LA_DISPATCH, name="洛杉矶市派单中心", name_en="Los Angeles dispatch desk", kind="dispatch",
                 parent_code=LA_CITY)
    org.add_unit(code="LA-SAN", name="LA Sanitation & Environment", name_en="LA Sanitation & Environment",
                 kind="department", parent_code=LA_CITY, dept_kind=LAW_ENFORCEMENT)
    org.add_unit(code="LA-DOT", name="LA Department of Transportation", name_en="LA Department of Transportation",
                 kind="department", parent_code=LA_CITY, dept_kind=TRAFFIC_POLICE)
    found = councils()
    regions = sorted({(number, name) for _, _, number, name in found})
    for number, name in regions:
        label = f"Region {number} - {name}"
        org.add_unit(code=f"LA-R{number:02d}", name=label, name_en=label, kind="district", parent_code=LA_CITY)
    for nc_id, name, number, _ in found:
        org.add_unit(code=nc_code(nc_id), name=name, name_en=name, kind="street", parent_code=f"LA-R{number:02d}")
    generation = import_boundaries(
        BOUNDARIES,
        key_field="nc_id",
        key_to_code={nc_id: nc_code(nc_id) for nc_id, _, _, _ in found},
        crs="wgs84",
        label="Los Angeles neighborhood councils (certified; hackforla/311-data)",
        now=now,
    )
    users = create_users(LA_USERS, now)
    return {"units": 4 + len(regions) + len(found), "regions": len(regions), "councils": len(found),
            "generation": generation, "users": users, "categories_added": categories}
