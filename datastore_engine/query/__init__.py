"""The pure query layer: SCIM filters, an Elasticsearch subset, sorting,
projection, index-key encoding and planning. No disk, no lmdb.

Each module's docstring documents its semantic choices:

* ``scim``: filter grammar and limits (``parse_filter``).
* ``evaluate``: filter semantics (``compile_filter``, ``get_values``).
* ``sorting``: sort specs and the total order (``sort_items``).
* ``projection``: JSONPath ``fields`` (``project``, ``compile_projection``).
* ``es``: the Elasticsearch subset (``compile_search``, ``build_response``).
* ``indexkeys``: order-preserving index keys (``encode_value``, ``range_for``, ``index_values``).
* ``planner``: index plans (``plan_filter``, ``plan_search``, ``describe``).

Example:
    >>> from datastore_engine.query import compile_filter, plan_filter, parse_filter, describe
    >>> compile_filter('age gt 3')({"age": 4})
    True
    >>> describe(plan_filter(parse_filter('age gt 3'), {"age"}))
    'index age [gt 3]'
"""

from .es import MAX_RESULT_WINDOW, Search, SourceFilter, build_response, compile_search
from .evaluate import Predicate, compile_filter, get_values, parse_timestamp
from .indexkeys import (
    MAX_ENCODED_VALUE_BYTES,
    KeyRange,
    encode_value,
    encoded_length,
    index_values,
    range_for,
)
from .planner import (
    Ids,
    IndexRange,
    Intersect,
    Plan,
    Scan,
    Union,
    describe,
    plan_filter,
    plan_search,
)
from .projection import compile_projection, project
from .scim import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, Node, parse_filter
from .sorting import SortKey, parse_sort, sort_items, top_items

__all__ = [
    "MAX_ENCODED_VALUE_BYTES",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_RESULT_WINDOW",
    "Ids",
    "IndexRange",
    "Intersect",
    "KeyRange",
    "Node",
    "Plan",
    "Predicate",
    "Scan",
    "Search",
    "SortKey",
    "SourceFilter",
    "Union",
    "build_response",
    "compile_filter",
    "compile_projection",
    "compile_search",
    "describe",
    "encode_value",
    "encoded_length",
    "get_values",
    "index_values",
    "parse_filter",
    "parse_sort",
    "parse_timestamp",
    "plan_filter",
    "plan_search",
    "project",
    "range_for",
    "sort_items",
    "top_items",
]
