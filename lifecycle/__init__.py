"""The pure lifecycle of a directive: events, state, decide/evolve/replay and the planner. No I/O, no clock.

Nothing here imports Prefect, SQLAlchemy or FastAPI; time is always a parameter.
"""

from lifecycle.commands import AnyCommand, Command, PerformAction
from lifecycle.decide import decide
from lifecycle.errors import (
    Forbidden,
    InvalidEvent,
    InvalidTransition,
    LifecycleError,
    NotFound,
    OutOfOrder,
    Refused,
)
from lifecycle.events import Event, parse_event
from lifecycle.planner import Action, due_actions, next_wakeup, pending_actions
from lifecycle.state import DirectiveState, apply, evolve, replay
from lifecycle.status import agency_rows, standing

__all__ = [
    "Action",
    "AnyCommand",
    "Command",
    "DirectiveState",
    "Event",
    "Forbidden",
    "InvalidEvent",
    "InvalidTransition",
    "LifecycleError",
    "NotFound",
    "OutOfOrder",
    "PerformAction",
    "Refused",
    "agency_rows",
    "apply",
    "decide",
    "due_actions",
    "evolve",
    "next_wakeup",
    "parse_event",
    "pending_actions",
    "replay",
    "standing",
]
