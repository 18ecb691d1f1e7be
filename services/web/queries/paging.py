"""One page of a list, with the (cached) total behind the pager."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from ..cache import TTLCache
from ..errors import Missing
from ..forms import Paging

COUNT_TTL_S = 10.0


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def window(self, width: int = 2) -> list[int | None]:
        """Page numbers for a pager: first, last and a few around the current (None = gap)."""
        wanted = {1, self.pages, *range(self.page - width, self.page + width + 1)}
        numbers = sorted(n for n in wanted if 1 <= n <= self.pages)
        out: list[int | None] = []
        for number in numbers:
            if out and number - (out[-1] or 0) > 1:
                out.append(None)
            out.append(number)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "pages": self.pages,
        }


def paged(
    session: Session,
    query: Select[Any],
    count_query: Select[Any],
    paging: Paging,
    to_dict: Callable[[Any], dict[str, Any]],
    cache: TTLCache | None,
    cache_key: tuple[Any, ...],
    fetch: Callable[[Paging], Any] | None = None,
) -> Page:
    """One page and the (cached) total; `fetch` replaces the plain LIMIT/OFFSET read."""

    def count() -> int:
        return int(session.scalar(count_query) or 0)

    total = cache.get_or_set(cache_key, COUNT_TTL_S, count) if cache else count()
    page = Page([], paging.page, paging.per_page, total)
    if paging.page > page.pages:
        raise Missing(f"page {paging.page} does not exist: there are {page.pages} page(s)")
    if fetch is not None:
        rows = fetch(paging)
    else:
        rows = session.execute(query.limit(paging.per_page).offset(paging.offset))
    return Page([to_dict(row) for row in rows], paging.page, paging.per_page, total)
