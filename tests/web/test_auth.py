"""Sign-in, sessions, roles, CSRF and the sign-in rate limit, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest

from seobatch.errors import ValidationError
from seobatch.users import WebUser, role_allows
from seobatch.web.app import create_app
from seobatch.web.auth import (
    LOGIN_FAILURES_PER_NAME,
    LoginLimiter,
    add_user,
    authenticate,
)

from tests.web.conftest import PASSWORD, WEB_SECRET, csrf_of, sign_in, web_settings
from tests.web.widths import half_em


def test_pages_need_a_sign_in_a_get_is_sent_to_the_form_and_a_post_gets_401(app, users):
    client = app.test_client()
    for path in ("/runs", "/jobs/1", "/preview", "/jobs/1/cancel"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=" + path)
    token = csrf_of(client)
    response = client.post("/jobs/1/cancel", data={"csrf_token": token})
    assert response.status_code == 401
    assert "Sign in" in response.get_data(as_text=True)


def test_a_wrong_password_or_unknown_name_is_401_and_the_right_one_signs_in(app, users):
    client = app.test_client()
    for name, password in (("admin", "wrong password!"), ("nobody", PASSWORD), ("", "")):
        response = sign_in(client, name, password)
        assert response.status_code == 401
        body = response.get_data(as_text=True)
        assert "Wrong name or password." in body and "Traceback" not in body
    assert client.get("/runs").status_code == 302
    response = sign_in(client, "admin", follow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "/runs"
    assert client.get("/runs").status_code == 200


def test_the_session_cookie_is_httponly_and_samesite_lax_and_secure_behind_https(web_db, users):
    plain = create_app(web_settings(web_db), secret_key=WEB_SECRET, width_fn=half_em).test_client()
    cookie = sign_in(plain, "viewer").headers.getlist("Set-Cookie")[-1]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = create_app(web_settings(web_db, web_https=True), secret_key=WEB_SECRET, width_fn=half_em)
    client = https.test_client()
    response = sign_in(client, "viewer", base_url="https://localhost")
    cookie = response.headers.getlist("Set-Cookie")[-1]
    assert cookie.startswith("__Host-seobatch=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "Domain" not in cookie and "Path=/" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_sign_out_ends_the_session_and_needs_the_csrf_token(clients):
    client = clients["viewer"]
    assert client.post("/logout").status_code == 400
    assert client.get("/runs").status_code == 200
    token = csrf_of(client, "/runs")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/runs").status_code == 302


def test_every_state_changing_request_without_the_token_is_refused(app, users, clients):
    anon = app.test_client()
    anon.get("/login")
    response = anon.post("/login", data={"name": "admin", "password": PASSWORD})
    assert response.status_code == 400  # login CSRF: no token, no sign-in
    assert anon.get("/runs").status_code == 302
    admin = clients["admin"]
    for data in ({}, {"csrf_token": "forged"}):
        assert admin.post("/jobs/1/cancel", data=data).status_code == 400
    token = csrf_of(admin, "/runs")
    # the header works as well as the form field
    assert admin.post("/jobs/999/cancel", headers={"X-CSRF-Token": token}).status_code == 404


def test_the_token_seen_before_sign_in_stops_working_after_it(app, users):
    client = app.test_client()
    before = csrf_of(client)
    sign_in(client, "admin")
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400


def test_a_password_change_signs_out_the_sessions_made_with_the_old_one(clients, users):
    client = clients["admin"]
    assert client.get("/runs").status_code == 200
    add_user("admin", "a brand new password", "admin", update=True)
    assert client.get("/runs").status_code == 302


def test_roles_each_include_the_ones_below():
    assert role_allows("admin", "reviewer") and role_allows("reviewer", "viewer")
    assert not role_allows("viewer", "reviewer") and not role_allows("reviewer", "admin")
    assert not role_allows("root", "viewer")


def test_sign_in_goes_back_only_to_a_path_of_this_site(app, users):
    for target, expected in (("/jobs/3?after=2", "/jobs/3?after=2"), ("//evil.example/x", "/runs"),
                             ("https://evil.example/", "/runs"), ("/\\evil.example", "/runs"),
                             ("javascript:alert(1)", "/runs")):
        client = app.test_client()
        token = csrf_of(client)
        response = client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf_token": token,
                                                "next": target})
        assert response.headers["Location"] == expected, target


def test_failed_sign_ins_are_limited_per_name_and_ip_even_for_the_right_password(app, users):
    client = app.test_client()
    for _ in range(LOGIN_FAILURES_PER_NAME):
        assert sign_in(client, "admin", "not the password").status_code == 401
    limited = sign_in(client, "admin")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in limited.get_data(as_text=True)
    # another user from the same address, and the same user from another address, still may
    assert sign_in(client, "viewer").status_code == 302
    other = app.test_client()
    assert sign_in(other, "admin", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302


def test_the_limiter_forgets_failures_after_its_window_and_caps_an_ip_across_names():
    now = [1000.0]
    limiter = LoginLimiter(per_name=2, per_ip=3, window=60, clock=lambda: now[0])
    limiter.failed("a", "1.1.1.1")
    assert limiter.retry_after("a", "1.1.1.1") == 0
    limiter.failed("A", "1.1.1.1")  # names compare without case
    assert 0 < limiter.retry_after("a", "1.1.1.1") <= 61
    assert limiter.retry_after("b", "1.1.1.1") == 0
    limiter.failed("b", "1.1.1.1")
    assert limiter.retry_after("c", "1.1.1.1") > 0  # three failures from one address: every name waits
    assert limiter.retry_after("c", "2.2.2.2") == 0
    now[0] += 61
    assert limiter.retry_after("a", "1.1.1.1") == 0 and limiter.retry_after("c", "1.1.1.1") == 0


def test_the_limiter_keeps_a_bounded_number_of_keys():
    limiter = LoginLimiter(max_keys=10)
    for i in range(100):
        limiter.failed(f"user{i}", "1.2.3.4")
    assert len(limiter._failures) <= 10


def test_add_user_hashes_with_scrypt_and_refuses_bad_input(web_db):
    user, created = add_user("alice", "a long enough password", "reviewer")
    assert created and user.password_hash.startswith("scrypt:")
    stored = WebUser.get(WebUser.name == "alice")
    assert "a long enough password" not in stored.password_hash
    assert authenticate("alice", "a long enough password").id == user.id
    assert authenticate("alice", "a long enough passwore") is None
    with pytest.raises(ValidationError, match="exists already"):
        add_user("alice", "a long enough password", "admin")
    with pytest.raises(ValidationError, match="10-1024 characters"):
        add_user("bob", "short", "viewer")
    with pytest.raises(ValidationError, match="role 'root'"):
        add_user("bob", "a long enough password", "root")
    with pytest.raises(ValidationError, match="user name"):
        add_user("<script>", "a long enough password", "viewer")
    assert WebUser.select().count() == 1


def test_behind_a_trusted_proxy_the_limit_counts_the_forwarded_client_address(web_db, users):
    app = create_app(web_settings(web_db, web_proxies=1), secret_key=WEB_SECRET, width_fn=half_em)
    client = app.test_client()
    for _ in range(LOGIN_FAILURES_PER_NAME):
        sign_in(client, "admin", "not the password", headers={"X-Forwarded-For": "203.0.113.7"})
    assert sign_in(client, "admin", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    # another client behind the same proxy is not locked out with it
    assert sign_in(client, "admin", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 302
