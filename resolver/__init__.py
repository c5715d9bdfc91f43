"""crm-dedup's domain: normalization, records and their store, Splink linkage, grouping, merge plans.

Never imports `api/` or MLflow. The names below are the public surface; modules may move.
"""

from resolver.errors import Conflict, CrmDedupError, InputError, InputProblem, ModelError, NotFound, StoreError
from resolver.records import ENTITIES, Entity, FieldContribution, Group, Pair, Record

__all__ = [
    "ENTITIES",
    "Conflict",
    "CrmDedupError",
    "Entity",
    "FieldContribution",
    "Group",
    "InputError",
    "InputProblem",
    "ModelError",
    "NotFound",
    "Pair",
    "Record",
    "StoreError",
]
