"""What the bulk page operations share: the key a url is remembered by, and statement sizes.

A site of a million urls is held as a set of 8-byte keys (tens of MB, not GB): the
import's "seen" set, the urls a delete keeps, the normal forms ``check_urls`` compares.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable

from .. import db as _db
from ..page_files import normal_url


def max_params() -> int:
    """How many bound parameters one statement may carry on this database."""
    if _db.is_postgres():
        return 60_000
    return 32_000 if sqlite3.sqlite_version_info >= (3, 32) else 999


def url_key(url: str) -> int:
    """The 8-byte key (blake2b) that the sets of urls hold in place of the url."""
    return int.from_bytes(hashlib.blake2b(url.encode("utf-8"), digest_size=8).digest(), "big")


def url_keys(urls: Iterable[str]) -> set[int]:
    """The 8-byte keys ``delete_missing`` compares (a million urls: tens of MB, not GB)."""
    return {url_key(normal_url(u)) for u in urls}


def id_chunk(chunk_size: int) -> int:
    """``chunk_size``, but few enough ids for one ``IN (…)`` on this database."""
    return max(1, min(chunk_size, max_params() // 2))
