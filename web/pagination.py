"""Page arithmetic for long lists (cases, events, notices), rendered by partials/_pagination.html."""

from __future__ import annotations

import math
from dataclasses import dataclass

from web.inputs import to_int


@dataclass(frozen=True)
class Pagination:
    """Page `page` (1-based) of `total` items shown `per_page` at a time."""

    page: int
    per_page: int
    total: int

    @classmethod
    def from_query(cls, raw_page: str | None, total: int, per_page: int = 20) -> Pagination:
        """Build from a ``?page=`` value; anything invalid or out of range is clamped."""
        page = to_int(raw_page) or 1          # ASCII digits only: "²" or "١" is page 1
        pages = max(1, math.ceil(total / per_page)) if per_page > 0 else 1
        return cls(page=min(max(1, page), pages), per_page=per_page, total=max(0, total))

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        """SQL OFFSET of the first item on this page."""
        return (self.page - 1) * self.per_page

    @property
    def limit(self) -> int:
        return self.per_page

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def window(self, around: int = 2) -> list[int | None]:
        """Page numbers to show: first, last and `around` either side; None marks a gap."""
        shown = {1, self.pages} | set(range(self.page - around, self.page + around + 1))
        numbers = sorted(n for n in shown if 1 <= n <= self.pages)
        result: list[int | None] = []
        for number in numbers:
            if result and number - (result[-1] or 0) > 1:
                result.append(None)
            result.append(number)
        return result
