"""Electronic supervision (电子监察): a pure rule engine shared by nodes and hub.

The same events, catalogue item, rule set and calendar give the same findings on a
township node and at the county hub. Nothing here stores, reads the clock or does I/O:
``as_of`` is passed in, and storing findings (never rewriting them) is the apps' job.
See docs/supervision.md for the rule table, thresholds, fairness and incremental use.

Modules: :mod:`.rules` (the :data:`RULES` registry and the versioned :class:`RuleSet`),
:mod:`.facts` (:func:`case_facts`: a case's timeline from its events),
:mod:`.checks` and :mod:`.time_checks` (the check functions and their tables, by rule id),
:mod:`.deadlines` (the processing clock), :mod:`.findings` (:class:`Finding`, routing by
risk point, the collector), :mod:`.support` (shared helpers), :mod:`.engine` (the
evaluators, running the checks in order).
"""

from .engine import (OverdueRecord, deadline_for, evaluate_case, evaluate_repeats,
                     evaluate_time, next_change_date, overdue_record, superseded)
from .facts import CaseFacts, EventRef, case_facts, normalise_event
from .findings import ROUTES, EvalContext, Finding, risk_point_for
from .rules import (ALERT_TYPES, CASE_RULE_IDS, CROSS_CASE_RULE_IDS, DOCUMENT_FORMAT,
                    LEVEL_LABELS, LEVELS, RULES, TIME_RULE_IDS, Rule, RuleSet,
                    SupervisionError)
from .support import flow_of

__all__ = [
    "ALERT_TYPES", "CASE_RULE_IDS", "CROSS_CASE_RULE_IDS", "CaseFacts", "DOCUMENT_FORMAT",
    "EvalContext", "EventRef", "Finding", "LEVELS", "LEVEL_LABELS", "OverdueRecord", "ROUTES",
    "RULES", "Rule", "RuleSet", "SupervisionError", "TIME_RULE_IDS", "case_facts",
    "deadline_for", "evaluate_case", "evaluate_repeats", "evaluate_time", "flow_of",
    "next_change_date", "normalise_event", "overdue_record", "risk_point_for", "superseded",
]
