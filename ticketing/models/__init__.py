"""The domain model. Import from here: `from ticketing.models import Ticket`."""

from geo.models import Base, Boundary, BoundaryGeneration, UTCDateTime
from ticketing.models.org import OrgUnit, UnitKind
from ticketing.models.users import ApiToken, User
from ticketing.models.categories import Category, HandlerRule
from ticketing.models.calendar import CalendarDay, CalendarYear
from ticketing.models.points import PointsSnapshot
from ticketing.models.supervision import AssessmentReport, ReportKind, SupervisionItem
from ticketing.models.worker import (
    CandidateState,
    Channel,
    DeliveryState,
    Notification,
    SupervisionCandidate,
    SupervisionCandidateTicket,
    WorkerSweep,
)
from ticketing.models.tickets import (
    Extension,
    IdempotencyRecord,
    Photo,
    Rating,
    Ticket,
    TicketCoHandler,
    TicketCounter,
    TicketEvent,
    TicketFollower,
)

__all__ = [
    "AssessmentReport",
    "ReportKind",
    "SupervisionItem",
    "CandidateState",
    "Channel",
    "DeliveryState",
    "Notification",
    "SupervisionCandidate",
    "SupervisionCandidateTicket",
    "WorkerSweep",
    "ApiToken",
    "Base",
    "Boundary",
    "BoundaryGeneration",
    "CalendarDay",
    "CalendarYear",
    "Category",
    "Extension",
    "HandlerRule",
    "IdempotencyRecord",
    "OrgUnit",
    "Photo",
    "PointsSnapshot",
    "Rating",
    "Ticket",
    "TicketCoHandler",
    "TicketCounter",
    "TicketEvent",
    "TicketFollower",
    "UTCDateTime",
    "UnitKind",
    "User",
]
