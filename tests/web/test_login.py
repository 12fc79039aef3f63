"""Signing in and out: the form, wrong passwords, throttling, sessions and their cookie."""

from __future__ import annotations

from tests.support.web import PASSWORD, account, csrf_of, log_in, web_client, with_web


def test_the_login_form_has_the_contract_fields_and_a_token(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert csrf_of(page.text)


def test_a_right_password_signs_in_and_redirects(app, client):
    account(app, "anna", "staff", ("sales@northpoint.example",))
    answer = log_in(client, "anna", next_page="/cases?status=open")
    assert answer.status_code == 303 and answer.headers["location"] == "/cases?status=open"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=" in cookie
    assert client.get("/cases").status_code == 200


def test_a_wrong_password_is_refused(app, client):
    account(app, "anna")
    answer = log_in(client, "anna", "not the password")
    assert answer.status_code == 401 and "Wrong name or password" in answer.text
    assert client.get("/cases").status_code == 303


def test_the_next_page_is_never_another_site(app, client):
    account(app, "anna")
    assert log_in(client, "anna", next_page="//evil.example/").headers["location"] == "/cases"


def test_sign_in_is_throttled_per_name_even_with_the_right_password(app, client):
    account(app, "anna")
    for _ in range(5):
        assert log_in(client, "anna", "wrong guess").status_code == 401
    refused = log_in(client, "anna", PASSWORD)
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text


def test_sign_in_is_throttled_per_client_address(app):
    account(app, "anna")
    app = with_web(app, login_failures_per_address=3)  # each unknown name costs a real hash
    with web_client(app, address="127.0.0.9") as guesser, web_client(app) as other:
        for number in range(3):
            assert log_in(guesser, f"name{number}", "guess").status_code == 401
        assert log_in(guesser, "anna", PASSWORD).status_code == 429
        assert log_in(other, "anna", PASSWORD).status_code == 303  # another address


def test_the_throttle_forgets_failures_after_the_window(app):
    now = [1000.0]
    account(app, "anna")
    with web_client(app, monotonic=lambda: now[0]) as client:
        for _ in range(5):
            log_in(client, "anna", "wrong guess")
        assert log_in(client, "anna").status_code == 429
        now[0] += 15 * 60 + 1
        assert log_in(client, "anna").status_code == 303


def test_a_login_post_without_its_token_is_refused(app, client):
    account(app, "anna")
    client.get("/login")
    answer = client.post("/login", data={"username": "anna", "password": PASSWORD})
    assert answer.status_code == 403


def test_a_session_expires(app):
    now = [1_000_000.0]
    account(app, "anna")
    with web_client(app, clock=lambda: now[0]) as client:
        assert log_in(client, "anna").status_code == 303
        assert client.get("/cases").status_code == 200
        now[0] += 8 * 3600 + 1
        assert client.get("/cases").status_code == 303


def test_a_forged_session_cookie_is_ignored(app, client):
    account(app, "anna")
    client.cookies.set("commgate_session", "eyJ1IjoiYW5uYSJ9.forged.signature")
    assert client.get("/cases").status_code == 303


def test_signing_out_ends_the_session(app, client):
    account(app, "anna")
    log_in(client, "anna")
    token = csrf_of(client.get("/cases").text)
    assert client.post("/logout", data={"csrf": token}).headers["location"] == "/login"
    assert client.get("/cases").status_code == 303


def test_a_disabled_account_is_signed_out_at_its_next_request(app, client):
    from gateway.services.users import disable_user

    account(app, "anna")
    log_in(client, "anna")
    disable_user(app, actor="admin-test", name="anna")
    assert client.get("/cases").status_code == 303
    assert log_in(client, "anna").status_code == 401
