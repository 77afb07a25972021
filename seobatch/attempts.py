"""Pages left alone: the ones that failed ``SEOBATCH_MAX_ATTEMPTS`` nights in a row.

The collector skips a page once ``seo_attempts`` reaches the limit (``stages/selection``),
so a provider outage of three nights can leave pages without SEO for good. These are
the operator's tools for them: list them with their last error (``seobatch pages
failed``), and give them another night (``seobatch pages reset``). A reset sets the
attempts to 0 and keeps ``seo_last_error`` until a success clears it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .db import utcnow, write_transaction
from .models import Page


def _left_alone(max_attempts: int) -> Any:
    return Page.seo_attempts >= max_attempts


def count_failed(max_attempts: int) -> int:
    """How many pages the collector leaves alone now."""
    return Page.select().where(_left_alone(max_attempts)).count()


def failed_pages(max_attempts: int, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The pages left alone, in id order, as ``url attempts last_error`` dicts (streamed)."""
    query = (
        Page.select(Page.url, Page.seo_attempts, Page.seo_last_error)
        .where(_left_alone(max_attempts))
        .order_by(Page.id)
    )
    if limit is not None:
        query = query.limit(limit)
    for url, attempts, error in query.tuples().iterator():
        yield {"url": url, "attempts": attempts, "last_error": error}


#: URLs per UPDATE (within every database's parameter limit).
_PER_STATEMENT = 500


def reset_attempts(urls: Iterable[str] | None, *, max_attempts: int) -> int:
    """Give pages another night: ``urls`` (any attempts count), or with None every page
    left alone. Returns how many pages were reset; one transaction."""
    changes = {Page.seo_attempts: 0, Page.updated_at: utcnow()}
    with write_transaction():
        if urls is None:
            return Page.update(changes).where(_left_alone(max_attempts)).execute()
        wanted = list(dict.fromkeys(urls))
        done = 0
        for start in range(0, len(wanted), _PER_STATEMENT):
            part = wanted[start : start + _PER_STATEMENT]
            done += Page.update(changes).where(Page.url.in_(part) & (Page.seo_attempts > 0)).execute()
        return done
