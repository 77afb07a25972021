"""Delete the pages that left the site: by a list of urls, or all that a site file lacks.

Pages go in chunks under the collectors' lock, and every page that an active job holds is
kept (and counted), so a running job never loses an item; the items of finished jobs go
with their page (ON DELETE CASCADE). ``import_pages(prune=True)`` deletes through here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import db as _db
from ..db import collector_lock
from ..errors import InputError
from ..jobmeta import ACTIVE_STATUSES
from ..models import Page, SeoBatchItem, SeoBatchJob
from ..page_files import PageRow, format_of_name, normal_url, open_binary, read_rows, read_urls
from ..term import plural
from .keys import id_chunk, url_key


@dataclass
class DeleteSummary:
    """What a delete did (or, with ``dry_run``, would do)."""

    deleted: int = 0
    #: Kept: an active job holds them (an item of a collecting/submitting/processing job).
    busy: int = 0
    #: Listed urls that no page has.
    not_found: int = 0
    dry_run: bool = False

    def describe(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        text = f"{verb} {plural(self.deleted, 'page')}"
        if self.busy:
            text += (f"; kept {plural(self.busy, 'page')} that active jobs hold "
                     "(run it again once they have ended)")
        if self.not_found:
            text += f"; {self.not_found} listed url(s) match no page"
        return text


def listed_urls(path: str, *, on_error: Callable[[InputError], None] | None = None) -> Iterator[str]:
    """The normal urls that ``path`` lists, each once, in file order; bad lines go to ``on_error``.

    A ``.csv``/``.jsonl`` file (``.gz`` too) gives its url column; any other file (and
    ``-``) is one url a line, blank lines and ``#`` comments skipped.
    """
    fmt = format_of_name(path) if path != "-" else None
    seen: set[int] = set()
    stream = open_binary(path)
    try:
        items: Iterator[Any] = read_rows(path, fmt, stream) if fmt else read_urls(path, stream)
        for item in items:
            if isinstance(item, InputError):
                if on_error is not None:
                    on_error(item)
                continue
            url = item.url if isinstance(item, PageRow) else item[1]
            key = url_key(url)
            if key not in seen:
                seen.add(key)
                yield url
    finally:
        if path != "-":
            stream.close()


def delete_pages(urls: Iterable[str], *, chunk_size: int = 1000, dry_run: bool = False) -> DeleteSummary:
    """Delete the pages with these urls (compared in normal form), a chunk at a time."""
    summary = DeleteSummary(dry_run=dry_run)
    for chunk in _db.chunked((normal_url(u) for u in urls), id_chunk(chunk_size)):
        wanted = set(chunk)
        ids = [page_id for (page_id,) in _db.tuples(Page.select(Page.id).where(Page.url.in_(list(wanted))))]
        summary.not_found += len(wanted) - len(ids)
        _delete_ids(ids, summary)
    return summary


def delete_missing(keys: set[int], *, chunk_size: int = 1000, dry_run: bool = False) -> DeleteSummary:
    """Delete every page whose url is not among ``keys`` (``url_keys`` of the site's urls).

    A page stored with a url that is not in normal form (imported before normalisation)
    is in no normal-form list, so it goes too.
    """
    summary = DeleteSummary(dry_run=dry_run)
    chunk_size = id_chunk(chunk_size)
    last_id = 0
    while True:
        rows = list(
            _db.tuples(Page.select(Page.id, Page.url).where(Page.id > last_id).order_by(Page.id).limit(chunk_size))
        )
        gone = [page_id for page_id, url in rows if url_key(url) not in keys]
        _delete_ids(gone, summary)
        if len(rows) < chunk_size:
            return summary
        last_id = rows[-1][0]


def _delete_ids(ids: list[int], summary: DeleteSummary) -> None:
    """Delete these pages but those an active job holds: three statements, one transaction.

    Under the collectors' lock, so no collector puts one of them in a job meanwhile; the
    items of finished jobs go with their page (ON DELETE CASCADE).
    """
    if not ids:
        return
    with collector_lock():
        active = [j for (j,) in _db.tuples(SeoBatchJob.select(SeoBatchJob.id).where(
            SeoBatchJob.status.in_(ACTIVE_STATUSES)))]
        busy: set[int] = set()
        if active:
            busy = {page_id for (page_id,) in _db.tuples(SeoBatchItem.select(SeoBatchItem.page).where(
                SeoBatchItem.page.in_(ids) & SeoBatchItem.job.in_(active)).distinct())}
        free = [i for i in ids if i not in busy]
        summary.busy += len(busy)
        if summary.dry_run:
            summary.deleted += len(free)
        elif free:
            summary.deleted += Page.delete().where(Page.id.in_(free)).execute()
