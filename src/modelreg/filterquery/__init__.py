"""The ``filterQuery`` language of the Kubeflow Model Registry API: parse it, then turn it into a where-clause.

    expr = parse('name LIKE "bert%" AND accuracy > 0.9')   # text -> syntax tree (nodes.py), or None
    where = to_where(expr, REGISTERED_MODEL)                 # tree -> SQLAlchemy condition (sql.py)
    where = compile_filter(text, REGISTERED_MODEL)           # both steps; None means "no filter"

No web framework and no database session here: callers add the condition to their own ``select``.
"""

from modelreg.filterquery.errors import FilterError, FilterSyntaxError, FilterTypeError
from modelreg.filterquery.fields import (
    ARTIFACT,
    EXPERIMENT,
    EXPERIMENT_RUN,
    INFERENCE_SERVICE,
    METRIC_HISTORY,
    MODEL_VERSION,
    REGISTERED_MODEL,
    SERVE_MODEL,
    SERVING_ENVIRONMENT,
    Field,
    Target,
    artifact_target,
)
from modelreg.filterquery.nodes import And, Comparison, Expr, Op, Or, Property, mentions
from modelreg.filterquery.parser import parse
from modelreg.filterquery.sql import compile_filter, to_where

__all__ = [
    "ARTIFACT",
    "EXPERIMENT",
    "EXPERIMENT_RUN",
    "INFERENCE_SERVICE",
    "METRIC_HISTORY",
    "MODEL_VERSION",
    "REGISTERED_MODEL",
    "SERVE_MODEL",
    "SERVING_ENVIRONMENT",
    "And",
    "Comparison",
    "Expr",
    "Field",
    "FilterError",
    "FilterSyntaxError",
    "FilterTypeError",
    "Op",
    "Or",
    "Property",
    "Target",
    "artifact_target",
    "compile_filter",
    "mentions",
    "parse",
    "to_where",
]
