"""A paginator for the admin's lists of tables that grow without bound (messages, passages,
facts ...): it never counts more than EXACT_COUNT_LIMIT rows.

Django's paginator runs COUNT(*) over the whole filtered list on every page, which reads
every row of a large owner. Here:
- an unfiltered list (only the admin's owner scope) larger than the limit takes the
  planner's estimate: pg_class.reltuples scaled by the owner scope's selectivity, no rows
  read;
- any other list is counted up to the limit (a bounded read); past it, the planner's
  estimate stands for the rest.
An estimate may be off: the last page numbers of a large list may then show fewer rows, or
none. The first pages, and every row a filter or search narrows down to, stay reachable.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

EXACT_COUNT_LIMIT = 10_000


def planner_rows(queryset: QuerySet[Any]) -> int:
    """The number of rows Postgres' planner expects the query to return (EXPLAIN, nothing
    read)."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # a condition no row can meet (an empty IN list)
        return 0
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        row = cursor.fetchone()
    plan = row[0] if row else [{"Plan": {"Plan Rows": 0}}]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class LargeTablePaginator(Paginator[Any]):
    """See the module's docstring; `filtered` says whether the list is filtered or searched
    beyond the owner scope (the admin's `get_paginator` sets it)."""

    exact_limit = EXACT_COUNT_LIMIT

    def __init__(self, *args: Any, filtered: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filtered = filtered

    @cached_property
    def count(self) -> int:
        queryset = cast("QuerySet[Any]", self.object_list).order_by()
        if not self.filtered:
            estimate = planner_rows(queryset)
            if estimate > self.exact_limit:
                return estimate
        counted = queryset[: self.exact_limit + 1].count()
        if counted <= self.exact_limit:
            return counted
        return max(counted, planner_rows(queryset))
