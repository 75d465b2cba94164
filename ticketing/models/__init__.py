"""The domain model. Import from here: `from ticketing.models import Ticket`."""

from geo.models import Base, Boundary, BoundaryGeneration, UTCDateTime
from ticketing.models.org import OrgUnit, UnitKind
from ticketing.models.users import ApiToken, LockKind, LoginFailure, LoginLock, OtpChallenge, User
from ticketing.models.categories import Category, HandlerRule
from ticketing.models.calendar import CalendarDay, CalendarYear
from ticketing.models.points import PointsSnapshot
from ticketing.models.kpi import KpiFact, KpiFactQueue, KpiFactState, KpiMonth, KpiMonthHist
from ticketing.models.supervision import AssessmentReport, ReportKind, SupervisionItem
from ticketing.models.bridge import WebhookDelivery, WebhookSubscription
from ticketing.models.citizen import CitizenCode, CitizenReport
from ticketing.models.audit import AuditEntry
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
    "AuditEntry",
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
    "CitizenCode",
    "CitizenReport",
    "Extension",
    "HandlerRule",
    "IdempotencyRecord",
    "LockKind",
    "LoginFailure",
    "LoginLock",
    "OtpChallenge",
    "OrgUnit",
    "Photo",
    "PointsSnapshot",
    "KpiFact",
    "KpiFactQueue",
    "KpiFactState",
    "KpiMonth",
    "KpiMonthHist",
    "Rating",
    "Ticket",
    "TicketCoHandler",
    "TicketCounter",
    "TicketEvent",
    "TicketFollower",
    "UTCDateTime",
    "UnitKind",
    "User",
    "WebhookDelivery",
    "WebhookSubscription",
]
