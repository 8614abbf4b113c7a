"""Every table, imported in one place for Alembic and the tests."""

from app.abuse.models import OperatorWarning
from app.audit.models import AuditEntry
from app.core.db import Base
from app.escalation.models import Escalation, Timer
from app.feed.models import FeedEventRow
from app.geo.models import Place, PlaceName
from app.incidents.models import Incident, IncidentEvent, Report
from app.intake.models import InboundMessage
from app.notify.models import Notification
from app.operators.models import ApiToken, Operator
from app.partners.models import Partner
from app.protection.models import ProtectionZone, VulnerableSite
from app.reporters.models import Reporter
from app.retention.models import RetentionRun
from app.routing.models import RoadClosure, RoadSegmentRow
from app.units.models import Unit, UnitContact
from app.verification.models import CallbackTask, Cla, VerificationRequest

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "CallbackTask",
    "Cla",
    "Escalation",
    "FeedEventRow",
    "InboundMessage",
    "Incident",
    "IncidentEvent",
    "Notification",
    "Operator",
    "OperatorWarning",
    "Partner",
    "Place",
    "PlaceName",
    "ProtectionZone",
    "Report",
    "Reporter",
    "RetentionRun",
    "RoadClosure",
    "RoadSegmentRow",
    "Timer",
    "Unit",
    "UnitContact",
    "VerificationRequest",
    "VulnerableSite",
]  # fmt: skip
