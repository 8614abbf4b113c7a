"""Every table, imported in one place for Alembic and the tests."""

from app.core.db import Base
from app.geo.models import Place, PlaceName
from app.incidents.models import Incident, IncidentEvent, Report
from app.intake.models import InboundMessage
from app.partners.models import Partner
from app.reporters.models import Reporter

__all__ = ["Base", "InboundMessage", "Incident", "IncidentEvent", "Partner", "Place", "PlaceName", "Report", "Reporter"]
