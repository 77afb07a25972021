"""The example webhook subscriber against a real HTTP server on 127.0.0.1 that fails now
and then: every changed page arrives, in chunks, signed, each chunk under one
idempotency key however often it was sent; a site that stays down is retried by the outbox."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seobatch import events, outbox, revisions
from seobatch.models import Page, SeoBatchEvent

from tests.support.pages import make_pages
from tests.support.pipeline import make_settings
from tests.test_revisions import regenerate_all, run_night

SECRET = "webhook-secret-0123456789"


class Site:
    """A site's webhook endpoint: checks signatures, keeps the first body per key, and
    answers 503 or drops the connection on every ``fail_every``-th request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.fail_every = 0
        self.down = False
        self.bodies: dict[str, dict] = {}
        self.deliveries: list[str] = []
        self.bad_signatures = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with site.lock:
                    site.requests += 1
                    n = site.requests
                if site.down or (site.fail_every and n % site.fail_every == 0):
                    if n % 2:
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self.close_connection = True  # no answer at all
                        self.connection.shutdown(2)
                    return
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, self.headers.get("X-Seobatch-Signature", "")):
                    site.bad_signatures += 1
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                key = self.headers["Idempotency-Key"]
                with site.lock:
                    site.deliveries.append(key)
                    site.bodies.setdefault(key, json.loads(body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/seo"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pages(self) -> dict[str, tuple[str, str]]:
        return {p["url"]: (p["seo_title"], p["seo_description"]) for b in self.bodies.values() for p in b["pages"]}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


@pytest.fixture
def subscribed(site):
    from seobatch.subscribers import webhook

    settings = make_settings(subscribers=("seobatch.subscribers.webhook",), webhook_url=site.url,
                             webhook_secret=SECRET, chunk_size=3, http_retries=3, http_timeout=5)
    outbox.load_subscribers(settings.subscribers, settings)
    events.pages_published.connect(webhook.on_published)  # again after an earlier test's teardown
    events.pages_rolled_back.connect(webhook.on_rolled_back)
    webhook._config = dataclasses.replace(webhook._config, backoff=0.01)  # no waiting in tests
    yield settings
    events.pages_published.disconnect(webhook.on_published)
    events.pages_rolled_back.disconnect(webhook.on_rolled_back)
    outbox._process.configured.pop("seobatch.subscribers.webhook", None)


def test_published_and_rolled_back_pages_reach_a_flaky_site_in_signed_chunks_once_each(any_db, site, subscribed):
    site.fail_every = 3
    make_pages(10)
    (good,) = run_night(subscribed)
    live = {p.url: (p.seo_title, p.seo_description) for p in Page.select()}
    assert site.pages() == live and site.bad_signatures == 0
    # Chunks of at most 3 pages, each with the event's metadata, some sent more than once
    assert all(len(b["pages"]) <= 3 and b["event"] == "pages_published" and b["job_id"] == good
               for b in site.bodies.values())
    assert len(site.bodies) == 4 and site.requests > len(site.deliveries) >= 4
    (event,) = SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_published")
    assert event.published_at is not None and event.attempts == 1
    # A rollback is sent the same way: the site ends with the restored values
    regenerate_all()
    (bad,) = run_night(subscribed, "bad")
    revisions.rollback([bad], by="ops")
    assert site.pages() == live


def test_a_site_that_stays_down_gets_the_event_again_from_the_outbox_with_the_same_keys(any_db, site, subscribed):
    make_pages(5)
    site.down = True
    run_night(subscribed)
    (event,) = SeoBatchEvent.select().where(SeoBatchEvent.name == "pages_published")
    assert event.published_at is None and "WebhookError" in event.last_error and SECRET not in event.last_error
    assert event.next_attempt_at is not None and site.bodies == {}
    # The site comes back; the sweep delivers it once the backoff is over
    site.down = False
    SeoBatchEvent.update(next_attempt_at=None).where(SeoBatchEvent.id == event.id).execute()
    assert outbox.deliver(event.id, settings=subscribed) == "delivered"
    assert site.pages() == {p.url: (p.seo_title, p.seo_description) for p in Page.select()}
    keys = list(site.bodies)
    assert all(k.startswith(f"seobatch-{event.id}-") for k in keys) and len(keys) == 2


def test_without_a_url_the_subscriber_fails_loudly(any_db):
    from seobatch.errors import ConfigError
    from seobatch.subscribers import webhook

    with pytest.raises(ConfigError, match="SEOBATCH_WEBHOOK_URL"):
        webhook.deliver("pages_published", {"change_id": "job-1"}, webhook._Config())
