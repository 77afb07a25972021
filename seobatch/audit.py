"""``seobatch audit``: a Screaming-Frog-style issues overview of the site's titles and
descriptions: each check with its severity, the number and share of pages, the worst
examples.

Three sources of values: ``published`` (the SEO seobatch published, the default),
``live`` (the pages' own imported title and ``description`` attribute: an audit before
the first run) and a job (``job=N``: the values that job generated, judged as its items'
verdicts say). Pages are read in keyset chunks and judged by the quality gate; their
fingerprints go into a temporary table, over which the site stage's own queries find
duplicates and templates. Memory stays flat: per check only a count and a few examples.
"""

from __future__ import annotations

import csv
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .db import database
from .jobmeta import ItemStatus
from .models import Page, SeoBatchItem
from .page_inputs import language_of
from .quality import PageContext, QualityGate, QualityProfile, Verdict
from .quality import fingerprint as fp
from .quality.checks import AUDIT_CHECKS, CHECKS, SITE_CHECKS, Check
from .stages.site import AUDIT_TABLE, site_findings

SOURCES = ("published", "live", "job")
#: Every check the audit can report, in the order it lists them (severity first).
ALL_CHECKS: dict[str, Check] = {**CHECKS, **AUDIT_CHECKS, **SITE_CHECKS}
SEVERITY_ORDER = {"issue": 0, "warning": 1, "opportunity": 2}
#: A value as it stands that the gate would repair has the problem the repair fixes.
REPAIR_AS_CHECK = {
    "artefact_removed": "{field}_artefact",
    "segment_deduplicated": "title_brand_repeated",
    "brand_removed": "title_brand_inconsistent",
    "brand_applied": "title_brand_inconsistent",
    "title_cut_at_separator": "title_too_wide",
    "title_cut_at_word": "title_too_wide",
    "description_cut_at_sentence": "description_too_wide",
    "description_cut_at_word": "description_too_wide",
}
#: Description attributes of an import, for ``live``.
_DESCRIPTION_KEYS = ("description", "meta_description", "seo_description")
_DROP = f"DROP TABLE IF EXISTS {AUDIT_TABLE}"
_CREATE = (f"CREATE TEMPORARY TABLE {AUDIT_TABLE} (id BIGINT PRIMARY KEY, url TEXT, content_hash TEXT, seo_site TEXT, "
           "seo_title_key BIGINT, seo_description_key BIGINT, seo_skeleton_key BIGINT, seo_h1_key BIGINT)")
#: Rows per INSERT (8 parameters each: under SQLite's 999 of old builds).
_PER_INSERT = 100
#: The INSERT of n rows, for n up to _PER_INSERT (built once, from constants).
_INSERTS = {n: f"INSERT INTO {AUDIT_TABLE} VALUES " + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * n)
            for n in range(1, _PER_INSERT + 1)}


#: One page's finding: (url, check, severity, field, detail), as ``--csv`` writes it.
Finding = tuple[str, str, str, str, str]


@dataclass
class CheckTally:
    check: str
    severity: str
    count: int = 0
    #: (score, order, url): the worst examples, a bounded heap.
    worst: list[tuple[float, int, str]] = field(default_factory=list)

    def add(self, url: str, score: float, order: int, keep: int) -> None:
        self.count += 1
        item = (score, -order, url)
        if len(self.worst) < keep:
            heapq.heappush(self.worst, item)
        elif item > self.worst[0]:
            heapq.heapreplace(self.worst, item)

    def urls(self) -> list[str]:
        return [url for _, _, url in sorted(self.worst, reverse=True)]


@dataclass
class AuditReport:
    source: str
    pages: int
    checks: dict[str, CheckTally]

    def to_dict(self) -> dict[str, Any]:
        """``{"checks": [{"check", "severity", "count", "urls", "share"}], "source", "pages"}``
        (the shape other programs rely on; every check listed, fired or not)."""
        rows = sorted(self.checks.values(), key=lambda t: (SEVERITY_ORDER[t.severity], -t.count, t.check))
        return {
            "checks": [{"check": t.check, "severity": t.severity, "count": t.count, "urls": t.urls(),
                        "share": round(t.count / self.pages, 4) if self.pages else 0.0} for t in rows],
            "source": self.source,
            "pages": self.pages,
        }


def _pages(source: str, job: int | None, chunk: int) -> Iterator[tuple[Any, ...]]:
    """(id, url, title, h1, content, attributes, content hash, value title, value
    description, stored verdict or None), in id order, a chunk at a time."""
    after = 0
    columns = [Page.id, Page.url, Page.title, Page.h1, Page.content, Page.attributes, Page.content_hash]
    while True:
        if source == "job":
            query = (Page.select(*columns, SeoBatchItem.result, SeoBatchItem.verdict)
                     .join(SeoBatchItem, on=(SeoBatchItem.page == Page.id))
                     .where((SeoBatchItem.job == job) & (SeoBatchItem.status != ItemStatus.PENDING)
                            & (SeoBatchItem.result.is_null(False) | SeoBatchItem.verdict.is_null(False))))
        elif source == "published":
            query = Page.select(*columns, Page.seo_title, Page.seo_description).where(Page.seo_title.is_null(False))
        else:
            query = Page.select(*columns)
        rows = database.execute(query.where(Page.id > after).order_by(Page.id).limit(chunk)).fetchall()
        if not rows:
            return
        decode = Page.attributes.python_value
        for row in rows:
            pid, url, title, h1, content, attrs, chash = row[:7]
            attrs = decode(attrs) if attrs is not None else None
            if source == "job":
                result = SeoBatchItem.result.python_value(row[7]) if row[7] is not None else None
                verdict = SeoBatchItem.verdict.python_value(row[8]) if row[8] is not None else None
                if verdict is not None:
                    t, d = verdict["title"], verdict["description"]
                else:
                    assert result is not None  # a succeeded item holds its reply
                    t, d = result["title"], result["meta_description"]
                yield pid, url, title, h1, content, attrs, chash, t, d, verdict
            elif source == "published":
                yield pid, url, title, h1, content, attrs, chash, row[7], row[8] or "", None
            else:
                desc = next((str(v) for k, v in (attrs or {}).items() if str(k).lower() in _DESCRIPTION_KEYS), "")
                yield pid, url, title, h1, content, attrs, chash, title or "", desc, None
        after = rows[-1][0]


def _insert(rows: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(rows), _PER_INSERT):
        part = rows[start:start + _PER_INSERT]
        database.execute_sql(_INSERTS[len(part)].replace("%s", database.param), [v for row in part for v in row])


def run_audit(
    *, source: str = "published", job: int | None = None, profile: QualityProfile | None = None,
    examples: int = 10, csv_file: IO[str] | None = None, chunk_size: int = 1000,
    on_finding: Callable[[Finding], None] | None = None,
) -> AuditReport:
    """Judge every page's values of ``source`` and run the site checks over them.

    ``csv_file`` gets one row per page and check; ``on_finding`` is called with each
    such row (the web page's list of one check's pages is built from it)."""
    if source not in SOURCES:
        raise ValueError(f"unknown audit source {source!r}")
    gate = QualityGate(profile)
    brand = gate.profile.brand
    tallies = {name: CheckTally(name, c.severity) for name, c in ALL_CHECKS.items()}
    sinks: list[Callable[[Finding], None]] = [] if on_finding is None else [on_finding]
    if csv_file is not None:
        writer = csv.writer(csv_file)
        writer.writerow(["url", "check", "severity", "field", "detail"])
        sinks.append(writer.writerow)
    pages = 0
    with database.connection_context(), database.atomic():  # temp table: one connection
        database.execute_sql(_DROP)
        database.execute_sql(_CREATE)
        batch: list[tuple[Any, ...]] = []
        for pid, url, title, h1, content, attrs, chash, t, d, stored in _pages(source, job, chunk_size):
            pages += 1
            language = language_of(attrs)
            if stored is not None:
                verdict, mapped = Verdict.from_dict(stored), False
            else:
                ctx = PageContext(url, title=title, h1=h1, language=language, text=content, attributes=attrs)
                verdict, mapped = gate.judge(t or "", d or "", ctx), True
            fired: dict[str, tuple[str, str]] = {}
            for f in verdict.checks:
                fired.setdefault(f.name, (f.field, f.detail))
            if mapped:
                for r in verdict.repairs:
                    name = REPAIR_AS_CHECK.get(r.name, "").format(field=r.field)
                    if name in ALL_CHECKS and (brand or not name.startswith("title_brand")):
                        fired.setdefault(name, (r.field, r.detail))
            for name, (field_, detail) in fired.items():
                score = verdict.title_px if field_ == "title" else verdict.description_px
                tallies[name].add(url, score, pages, examples)
                for sink in sinks:
                    sink((url, name, ALL_CHECKS[name].severity, field_, detail))
            if t:
                variable = h1 or title or ""
                page_language = language or verdict.page_language
                batch.append((pid, url, chash, fp.site_of(url, page_language),
                              fp.key(t, brand), fp.key(d) if d else None,
                              fp.skeleton_key(t, variable, brand), fp.key(variable, brand) if variable else None))
            if len(batch) >= chunk_size:
                _insert(batch)
                batch = []
        _insert(batch)
        order = pages
        for check, _pid, url, n in site_findings(AUDIT_TABLE):
            order += 1
            tallies[check].add(url, float(n), order, examples)
            for sink in sinks:
                sink((url, check, ALL_CHECKS[check].severity, "title" if check.startswith("title") else
                      "description", f"{n} pages share it" if check != "title_same_as_other_h1" else ""))
        database.execute_sql(_DROP)
    return AuditReport("job" if source == "job" else source, pages, tallies)


@dataclass
class CheckPages:
    """One page of the URLs a check fired on, with the report of the same run."""

    report: AuditReport
    urls: list[str]
    #: The cursor of the next page (its last URL), or None on the last page.
    next_after: str | None


def check_pages(check: str, *, after: str = "", limit: int = 50, **audit: Any) -> CheckPages:
    """The URLs ``check`` fired on, in URL order after ``after`` (a keyset: the cursor is
    the last URL shown), ``limit`` of them. One ``run_audit`` (``audit`` are its
    arguments), so the count above the list and the list come from the same judgement;
    only the first ``limit + 1`` URLs past the cursor are kept, memory stays flat."""
    if check not in ALL_CHECKS:
        raise ValueError(f"unknown audit check {check!r}")
    keep = max(1, limit) + 1
    kept: set[str] = set()
    ceiling: list[str | None] = [None]  # above it a URL cannot be among the first ``keep``

    def collect(finding: Finding) -> None:
        url = finding[0]
        if finding[1] != check or url <= after or url in kept:
            return
        if ceiling[0] is not None and url >= ceiling[0]:
            return
        kept.add(url)
        if len(kept) >= 4 * keep:  # trim now and then: O(n log keep) over the run
            first = sorted(kept)[:keep]
            kept.clear()
            kept.update(first)
            ceiling[0] = first[-1]

    report = run_audit(on_finding=collect, **audit)
    urls = sorted(kept)[:keep]
    more = len(urls) > limit
    urls = urls[:max(1, limit)]
    return CheckPages(report, urls, urls[-1] if more else None)


def render(report: AuditReport, *, examples: int = 3) -> str:
    """The overview as text: fired checks by severity, count, share, the worst URLs."""
    data = report.to_dict()
    fired = [c for c in data["checks"] if c["count"]]
    what = {"published": "published values", "live": "the pages' own titles", "job": "one job's values"}
    out = [f"audit of {report.pages:,} page(s), {what[report.source]}: "
           f"{len(fired)} check(s) fired"]
    if fired:
        width = max(len(c["check"]) for c in fired)
        for c in fired:
            out.append(f"  {c['severity']:<11} {c['check']:<{width}} {c['count']:>8,}  {100 * c['share']:5.1f}%")
            for url in c["urls"][:examples]:
                out.append(f"  {'':<11} {'':<{width}}   e.g. {url}")
    return "\n".join(out)


__all__ = ["ALL_CHECKS", "AuditReport", "CheckPages", "Finding", "REPAIR_AS_CHECK", "SOURCES", "check_pages", "render",
           "run_audit"]
