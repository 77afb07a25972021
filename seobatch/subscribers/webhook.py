"""An example subscriber: POST the pages a change published to the site's webhook.

Enable it with ``SEOBATCH_SUBSCRIBERS=seobatch.subscribers.webhook``,
``SEOBATCH_WEBHOOK_URL`` and ``SEOBATCH_WEBHOOK_SECRET`` in every process that runs
seobatch (``configure`` hands them over once per process). On ``pages_published`` and
``pages_rolled_back`` it reads the change's pages a chunk at a time
(``revisions.changed_pages``, never a million ids at once) and POSTs each chunk as JSON::

    {"event": "pages_published", "event_id": 41, "change_id": "job-12", "job_id": 12,
     "pages": [{"url": …, "seo_title": …, "seo_description": …, "revision_id": …}, …]}

with the headers ``Idempotency-Key`` (the same for the same chunk of the same event on
every retry, so the site applies it once), ``X-Seobatch-Event`` and
``X-Seobatch-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>``. A chunk
that fails (connection error, timeout, 408/429/5xx) is retried with backoff a few times;
if it still fails, the receiver raises, the outbox records the error and delivers the
event again later (chunks the site already has come again with the same key). A 4xx
other than 408/429 is the site refusing the request: raised at once, not retried here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from .. import events, revisions
from ..config import Settings
from ..errors import ConfigError, SeobatchError
from ..http import new_session

log = logging.getLogger("seobatch.webhook")

#: Statuses worth sending again.
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class WebhookError(SeobatchError):
    """The site did not take a chunk; the outbox retries the event later."""


@dataclass(frozen=True)
class _Config:
    url: str | None = None
    secret: str | None = None
    chunk_size: int = 1000
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5


_config = _Config()
_local = threading.local()


def configure(settings: Settings) -> None:
    """Called by ``outbox.load_subscribers`` with the process's settings."""
    global _config
    _config = _Config(url=settings.webhook_url, secret=settings.webhook_secret,
                      chunk_size=min(settings.chunk_size, 1000), timeout=settings.http_timeout,
                      retries=settings.http_retries)


def sign(body: bytes, secret: str) -> str:
    """The ``X-Seobatch-Signature`` value of ``body``: what the site recomputes to check it."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = new_session()
    return session


def post_chunk(body: bytes, key: str, event: str, config: _Config) -> None:
    """POST one chunk, retrying transient failures; raises WebhookError when it gives up."""
    assert config.url and config.secret
    headers = {"Content-Type": "application/json", "Idempotency-Key": key, "X-Seobatch-Event": event,
               "X-Seobatch-Signature": sign(body, config.secret)}
    last = ""
    for attempt in range(config.retries + 1):
        if attempt:
            time.sleep(config.backoff * 2 ** (attempt - 1))
        try:
            resp = _session().post(config.url, data=body, headers=headers, timeout=config.timeout)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}"  # the exception text may carry the URL's query
            continue
        if 200 <= resp.status_code < 300:
            return
        last = f"HTTP {resp.status_code}"
        if resp.status_code not in RETRY_STATUSES:
            raise WebhookError(f"the webhook refused chunk {key}: {last}")
    raise WebhookError(f"the webhook did not take chunk {key} after {config.retries + 1} tries: {last}")


def deliver(event: str, data: dict[str, Any], config: _Config | None = None) -> int:
    """POST every page of the event's change, a chunk at a time; returns the pages sent."""
    config = config or _config
    if not config.url or not config.secret:
        raise ConfigError("seobatch.subscribers.webhook needs SEOBATCH_WEBHOOK_URL and SEOBATCH_WEBHOOK_SECRET")
    change = data["change_id"]
    sent, after = 0, 0
    while pages := revisions.changed_pages(change, after_page_id=after, limit=config.chunk_size):
        body = json.dumps({
            "event": event, "event_id": data.get("event_id"), "change_id": change,
            "job_id": data.get("job_id"), "job_ids": data.get("job_ids"),
            "pages": [{"url": p.url, "seo_title": p.seo_title, "seo_description": p.seo_description,
                       "revision_id": p.revision_id} for p in pages],
        }, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        post_chunk(body, f"seobatch-{data.get('event_id')}-{pages[0].page_id}", event, config)
        sent += len(pages)
        after = pages[-1].page_id
    log.info("webhook: %s %s: %d page(s) sent", event, change, sent)
    return sent


# Module-level functions: blinker holds receivers weakly.
@events.pages_published.connect
def on_published(job: Any, **data: Any) -> None:
    deliver("pages_published", data)


@events.pages_rolled_back.connect
def on_rolled_back(job: Any, **data: Any) -> None:
    deliver("pages_rolled_back", data)
