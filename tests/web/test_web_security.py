"""Escaping of everything pages and models give us, secrets never rendered, 500s without internals."""

from __future__ import annotations

import logging
import re
from html.parser import HTMLParser

from seobatch.models import Page, SeoBatchItem

from tests.security.injection_corpus import CASES
from tests.web.conftest import ALL_SECRETS, csrf_of, sign_in
from tests.web.seed import collecting_job, completed_job

#: What a page title, a reply, an error or a URL may hold: the suite's injection corpus plus markup.
HOSTILE = [
    "<script>alert('title')</script>",
    '"><svg onload=alert(1)>',
    "</textarea><script>alert(2)</script>",
    "{{ 7*7 }} {% raw %}",
    "javascript:alert(document.domain)",
] + [content for content, _ in CASES]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.handlers: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.scripts += tag == "script"
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def _parse(body: str) -> _Tags:
    parser = _Tags()
    parser.feed(body)
    return parser


def test_hostile_titles_replies_errors_and_urls_render_inert(clients):
    job = completed_job(succeeded=len(HOSTILE), errored=3, titles=HOSTILE, page_titles=HOSTILE,
                        errors=HOSTILE[:3], run="<script>alert('run')</script>",
                        meta={"prompt_version": '"><img src=x onerror=alert(1)>'})
    # the URLs too: the results stage never stores these, but the page must hold if one is there
    first = SeoBatchItem.select().where(SeoBatchItem.job == job.id).order_by(SeoBatchItem.id).first()
    Page.update(url="https://x.example/<script>alert('url')</script>").where(Page.id == first.page_id).execute()
    for path in (f"/jobs/{job.id}", f"/jobs/{job.id}?after=0", f"/jobs/{job.id}?after=25", "/runs",
                 f"/jobs/{job.id}/cancel"):
        response = clients["admin"].get(path, follow_redirects=True)
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        parsed = _parse(body)
        assert parsed.scripts == 0 and parsed.handlers == [], path
        assert "<svg onload" not in body and "<img src=x" not in body
    body = clients["admin"].get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in body  # shown, as text
    assert "{{ 7*7 }} {% raw %}" in body
    runs = clients["admin"].get("/runs").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;run&#39;)&lt;/script&gt;" in runs


def test_the_preview_tool_echoes_input_inert(clients):
    for value in HOSTILE:
        response = clients["viewer"].get("/preview", query_string={"title": value, "description": value,
                                                                   "url": value})
        body = response.get_data(as_text=True)
        parsed = _parse(body)
        assert parsed.scripts == 0 and parsed.handlers == [], value
        assert parsed.tags.count("textarea") == 1


def test_a_template_expression_in_data_is_not_evaluated(clients):
    completed_job(succeeded=1, titles=["{{ config.SECRET_KEY }} {{ 7*7 }}"])
    job_id = SeoBatchItem.select(SeoBatchItem.job).scalar()
    body = clients["viewer"].get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "{{ config.SECRET_KEY }} {{ 7*7 }}" in body


def test_no_secret_is_rendered_on_any_page_or_header(app, clients, caplog):
    caplog.set_level(logging.DEBUG)
    job = completed_job(succeeded=2, errored=1)
    live = collecting_job()
    pages = ["/login", "/runs", f"/jobs/{job.id}", f"/jobs/{live.id}/cancel", "/preview?title=abc",
             "/nowhere", "/healthz", "/static/app.css", f"/jobs/{job.id}?after=0"]
    seen = []
    for client in clients.values():
        for path in pages:
            response = client.get(path, follow_redirects=True)
            seen.append(response.get_data(as_text=True) + str(response.headers))
    token = csrf_of(clients["admin"], "/runs")
    seen.append(clients["admin"].post(f"/jobs/{live.id}/cancel", data={"csrf_token": token},
                                      follow_redirects=True).get_data(as_text=True))
    everything = "\n".join(seen) + caplog.text
    for secret in ALL_SECRETS:
        assert secret not in everything
    assert app.config["SECRET_KEY"] not in everything


def test_an_internal_error_is_a_500_page_with_a_reference_and_no_internals(app, users, caplog):
    @app.get("/boom")
    def boom():
        raise RuntimeError(f"database said no, key {ALL_SECRETS[0]} in /srv/app/secret.py line 3")

    client = app.test_client()
    sign_in(client, "viewer")
    response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body and re.search(r"Reference: <code>[0-9a-f]{12}</code>", body)
    for leak in ("Traceback", "RuntimeError", "database said no", "secret.py", ALL_SECRETS[0]):
        assert leak not in body
    ref = re.search(r"<code>([0-9a-f]{12})</code>", body).group(1)
    assert f"ref={ref}" in caplog.text  # the log has it, for whoever is quoted the reference
