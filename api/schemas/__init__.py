"""Request and response bodies of the API, apart from stored rows; every one carries an OpenAPI example.

One module per router (`records`, `check`, `groups`, `jobs`, `feedback`) plus `common` for what they share.
Routers and the CLI import from `api.schemas`, so the modules can move. Importing this package registers the
`{entity:entity}` path convertor (api/schemas/common.py).
"""

from api.schemas.check import CheckBatchIn, CheckBatchOut, CheckOut, DuplicatesOut, MatchOut, RowMatches
from api.schemas.common import (
    PROBLEM_MEDIA_TYPE,
    Contribution,
    Problem,
    ProblemItem,
    RecordId,
    Text,
    Timestamp,
    problem_responses,
)
from api.schemas.feedback import (
    FEEDBACK_EXAMPLES,
    FEEDBACK_SCHEMA,
    DecisionGroupId,
    DecisionOut,
    FeedbackBody,
    FeedbackPage,
    FeedbackStored,
    MemberDecisionIn,
    PairDecisionIn,
    Reviewer,
    feedback_items,
)
from api.schemas.groups import (
    GroupCount,
    GroupDetail,
    GroupOut,
    GroupPage,
    GroupsSummary,
    KeptValues,
    MemberOut,
    MergePlan,
    MergeReport,
    MergeResult,
    PairDecisionInForce,
    PairOut,
)
from api.schemas.jobs import JobOut, JobResult, ScanRequest
from api.schemas.records import (
    RECORD_EXAMPLES,
    RECORD_SCHEMA,
    AmoCrmRecord,
    BatchIn,
    BatchOut,
    FlatRecord,
    RecordBody,
    RecordDeleted,
    RecordOut,
    Rejected,
    record_from_body,
)

__all__ = [
    "FEEDBACK_EXAMPLES", "FEEDBACK_SCHEMA", "PROBLEM_MEDIA_TYPE", "RECORD_EXAMPLES", "RECORD_SCHEMA",
    "AmoCrmRecord", "BatchIn", "BatchOut", "CheckBatchIn", "CheckBatchOut", "CheckOut", "Contribution",
    "DecisionGroupId", "DecisionOut", "DuplicatesOut", "FeedbackBody", "FeedbackPage", "FeedbackStored",
    "FlatRecord", "GroupCount", "GroupDetail", "GroupOut", "GroupPage", "GroupsSummary", "JobOut", "JobResult",
    "KeptValues", "MatchOut", "MemberDecisionIn", "MemberOut", "MergePlan", "MergeReport", "MergeResult",
    "PairDecisionIn", "PairDecisionInForce", "PairOut", "Problem", "ProblemItem", "RecordBody", "RecordDeleted",
    "RecordId", "RecordOut", "Rejected", "Reviewer", "RowMatches", "ScanRequest", "Text", "Timestamp",
    "feedback_items", "problem_responses", "record_from_body",
]
