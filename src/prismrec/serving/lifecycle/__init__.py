"""Which model serves: hot swap and rollback, A/B tests and their log, the fleet's model."""

from prismrec.serving.lifecycle._ablog import ABCounts, ABLog, open_ablog
from prismrec.serving.lifecycle._fleet import FleetModel, open_fleet
from prismrec.serving.lifecycle.ab import (
    VARIANTS,
    ABReport,
    Experiment,
    VariantReport,
    assign,
    report,
    summarise,
)
from prismrec.serving.lifecycle.follow import FleetFollower
from prismrec.serving.lifecycle.hotswap import ServiceHolder, Slot, with_watch

__all__ = [
    "FleetFollower",
    "ABCounts",
    "ABLog",
    "ABReport",
    "Experiment",
    "FleetModel",
    "ServiceHolder",
    "Slot",
    "VARIANTS",
    "VariantReport",
    "assign",
    "open_ablog",
    "open_fleet",
    "report",
    "summarise",
    "with_watch",
]
