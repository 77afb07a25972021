"""Pages in and out: import a file into ``seo_pages`` in bulk, export them with their SEO,
delete the pages that left the site, check the stored urls.

One module a job: ``importing`` (``import_pages``), ``export`` (``export_pages``),
``delete`` (``delete_pages``, ``delete_missing``), ``urls`` (``check_urls``); ``keys`` holds
what they share (the 8-byte url key, statement sizes). The names below are the package's
surface, so ``seobatch.pages.import_pages`` keeps working.

Columns: ``url`` (required, absolute http/https, stored in its normal form: see
``page_files.normal_url``), ``title``, ``h1`` (the main heading;
without the column, the first ``<h1>`` of HTML content), ``content``; every other column is
kept in ``Page.attributes`` (a JSONL ``attributes`` object is merged in too). A
re-imported url replaces the page's title, h1, content and attributes; when anything
changed, the page gets a fresh set of attempts (``seo_attempts`` back to 0) and its new
``content_hash`` makes the collector regenerate its SEO. An unchanged row is not written.

Bad rows (bad JSON, invalid UTF-8, missing or malformed url, wrong types, over-size
fields: see ``page_files``; a url already seen earlier in the same file) are rejected one
by one with an ``InputError`` naming file, line and field; the valid rows are imported. A
duplicate url (compared in normal form) keeps its FIRST row: the later ones are reported,
never silently applied. NUL characters, which PostgreSQL cannot store, are removed from
title and content. Warnings (content cut to its limit, ``/x`` next to ``/x/``) go to
``on_warning``; the row is imported.

Export walks the table by primary key (keyset pagination, one query per chunk) and writes
JSONL or CSV (formulas defused), gzipped for a ``.gz`` name; delete removes pages in
chunks under the collectors' lock and keeps (and counts) every page that an active job
holds, so a running job never loses an item.
"""

from __future__ import annotations

from ..page_files import FORMATS, detect_format
from .delete import DeleteSummary, delete_missing, delete_pages, listed_urls
from .export import EXPORT_FIELDS, export_pages, iter_export_rows, parse_since, spreadsheet_safe, write_export
from .importing import ImportSummary, import_pages
from .keys import url_keys
from .urls import UrlReport, check_urls

__all__ = [
    "EXPORT_FIELDS", "FORMATS", "DeleteSummary", "ImportSummary", "UrlReport", "check_urls",
    "delete_missing", "delete_pages", "detect_format", "export_pages", "import_pages",
    "iter_export_rows", "listed_urls", "parse_since", "spreadsheet_safe", "url_keys", "write_export",
]
