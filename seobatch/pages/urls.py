"""The urls stored before normalisation: how many a normalising migration would change.

``seobatch pages check-urls`` reads this report; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import db as _db
from ..models import Page
from ..page_files import normal_url
from ..term import plural
from .keys import id_chunk, url_key


@dataclass
class UrlReport:
    """How the stored urls compare with ``normal_url``: what a migration would change."""

    pages: int = 0
    #: Stored urls that are not in normal form.
    not_normal: int = 0
    #: Of those, how many share their normal form with another stored page (a merge).
    collide: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        text = f"{self.not_normal} of {plural(self.pages, 'page')} have a url that is not in normal form"
        if self.not_normal:
            text += f" ({self.collide} of them share it with another page)"
        return text


def check_urls(*, chunk_size: int = 1000, examples: int = 5) -> UrlReport:
    """Count the stored urls a normalising migration would change (reads only)."""
    report = UrlReport()
    chunk_size = id_chunk(chunk_size)
    normal_keys: set[int] = set()
    last_id = 0
    while True:
        rows = list(
            _db.tuples(Page.select(Page.id, Page.url).where(Page.id > last_id).order_by(Page.id).limit(chunk_size))
        )
        report.pages += len(rows)
        changed = [(url, normal_url(url)) for _, url in rows]
        changed = [(old, new) for old, new in changed if old != new]
        if changed:
            report.not_normal += len(changed)
            report.examples.extend(changed[: max(0, examples - len(report.examples))])
            taken = {u for (u,) in _db.tuples(Page.select(Page.url).where(Page.url.in_([n for _, n in changed])))}
            for _, new in changed:
                key = url_key(new)
                if new in taken or key in normal_keys:
                    report.collide += 1
                normal_keys.add(key)
        if len(rows) < chunk_size:
            return report
        last_id = rows[-1][0]
