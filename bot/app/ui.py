"""The status UI: server-rendered pages (bot/templates/ui/*.html) behind sign-in with GitHub.

Sign-in is the GitHub App's OAuth user flow (`bot.adapters.github_user`): GET /login binds a
random `state` to the session and sends the browser to GitHub; GET /oauth/callback refuses a
missing or different `state`, exchanges the code for a user access token, and lets the person in
only as an active member of `ui.organization` (and of one of `ui.teams`, when listed,
`bot.core.access.member_decision`). Which repositories the person can read is asked of GitHub
with their token (the repositories of the App's installations they can access, a request per
100, `UserApi.readable_repositories`), intersected with those the store has data of, and kept
in the session; membership and repositories are asked again every `ui.recheck_seconds`.

The session is Flask's signed cookie: Secure (unless MODELBOT_COOKIE_SECURE=false, for local
http), HttpOnly, SameSite=Lax, at most MODELBOT_SESSION_HOURS from sign-in. The user access
token is kept in it encrypted (Fernet, a key derived from MODELBOT_SESSION_SECRET) for the
rechecks, and never written to a page or a log. Every POST carries the session's CSRF token,
checked here before any route runs. Pages of a repository the person cannot read answer 404.

Every route but /healthz, /readyz, /webhook (HMAC-signed), /login and /oauth/callback needs a
session; /api/ and /metrics take bearer tokens (bot/app/api.py, bot/app/web.py) instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
import time
import urllib.parse

from cryptography.fernet import Fernet, InvalidToken
from flask import Flask, Response, abort, g, redirect, request, session
from flask.sessions import SecureCookieSessionInterface

from bot.adapters.github_user import GitHubUserError, SignInExpired, UserApi, authorize_url, exchange_code
from bot.app.services import status
from bot.core.access import (member_decision, needs_recheck, new_secret, public_path, safe_return_path,
                             sessionless_path,
                             same_secret, session_current, token_path)
from bot.core.logs import add_redactions
from bot.core.render import render_html

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
REFRESH_SECONDS = 10  # pages with a rollout in flight reload themselves this often
MAX_COOKIE_BYTES = 3800  # browsers keep cookies of up to 4096 bytes, name and attributes included



def _sid_hash(sid: str) -> str:
    """What the store keeps of an ended session: its id's SHA-256, never the id."""
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionlessForMachines(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, not opened on the routes only machines call
    (`bot.core.access.sessionless_path`: the webhook, health checks, /metrics, /api/): Flask
    gives them a null session, which nothing reads and nothing saves. Opening one cost the
    webhook's intake ~0.09 ms of CPU a delivery under gunicorn (bench/bench_intake.py)."""

    def open_session(self, app, request):
        if sessionless_path(request.path):
            return None
        return super().open_session(app, request)


def register(app: Flask, settings, store, *, user_api=UserApi, exchange=exchange_code) -> None:
    enabled = settings.ui_enabled
    ui = settings.server.ui
    lifetime = settings.session_hours * 3600
    if enabled:
        secret = settings.session_secret.get()
        add_redactions([secret, settings.github_client_secret.get()])
    else:  # sessions still work (nothing signs in), but with a key nobody knows
        secret = secrets.token_hex(32)
    app.secret_key = secret
    app.session_interface = SessionlessForMachines()
    app.config.update(
        SESSION_COOKIE_NAME="__Host-modelbot" if settings.cookie_secure else "modelbot_session",
        SESSION_COOKIE_SECURE=settings.cookie_secure, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_PATH="/", SESSION_REFRESH_EACH_REQUEST=False,
        PERMANENT_SESSION_LIFETIME=lifetime)
    fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"modelbot-ui-token\0" + secret.encode()).digest()))

    def page(name: str, status_code: int = 200, **values) -> Response:
        user = getattr(g, "ui_user", None)
        body = render_html(f"ui/{name}", user=user, csrf=session.get("csrf") if user else None,
                           environments=settings.server.ordered_environments(), **values)
        return Response(body, status=status_code, mimetype="text/html")

    def refuse(status_code: int, title: str, reason: str) -> Response:
        return page("refused.html", status_code, title=title, reason=reason)

    def check_person(api: UserApi, login: str) -> tuple[bool, str]:
        org_state = api.org_state(ui.organization)
        team_states = {t: api.team_state(ui.organization, t, login) for t in ui.teams} if org_state == "active" else {}
        decision = member_decision(ui.organization, org_state, ui.teams, team_states)
        return decision.allowed, decision.reason

    def readable_repositories(api: UserApi) -> list[str]:
        readable = api.readable_repositories()
        return [r for r in status.repositories(store) if r.lower() in readable]

    def signed_in_user() -> dict | None:
        """The session's person, rechecked with GitHub when due; None when not signed in (or no longer)."""
        login = session.get("login")
        if not isinstance(login, str) or not session_current(session.get("at"), time.time(), lifetime):
            return None
        sid = session.get("sid")
        if not isinstance(sid, str) or store.session_ended(_sid_hash(sid)):  # signed out (a copied cookie)
            return None
        if needs_recheck(session.get("checked"), time.time(), ui.recheck_seconds):
            try:
                token = fernet.decrypt(str(session.get("tok", "")).encode()).decode()
            except InvalidToken:
                return None
            api = user_api(settings.github_api_url, token)
            try:
                allowed, reason = check_person(api, login)
                if not allowed:
                    log.info("ui session ended: membership lost", extra={"login": login, "reason": reason})
                    return None
                session["repos"] = readable_repositories(api)
            except SignInExpired:
                return None
            except GitHubUserError as exc:
                abort(refuse(503, "GitHub cannot confirm your access",
                             f"{exc}; nothing is shown until GitHub confirms it. Try again shortly."))
            session["checked"] = time.time()
        repos = session.get("repos")
        return {"login": login, "repositories": list(repos) if isinstance(repos, list) else []}

    @app.before_request
    def ui_guard():
        path = request.path
        if public_path(path) or token_path(path):
            return None
        if not enabled:
            return refuse(503, "Sign-in is not configured",
                          "the status UI needs GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, MODELBOT_SESSION_SECRET, "
                          "MODELBOT_PUBLIC_URL and ui.organization (docs/production.md)")
        user = signed_in_user()
        if user is None:
            session.clear()
            if request.method in ("GET", "HEAD"):
                return redirect("/login?" + urllib.parse.urlencode({"next": request.full_path.rstrip("?")}))
            return refuse(401, "Sign in first", "this needs a signed-in session")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if not same_secret(session.get("csrf"), request.form.get("csrf_token")):
                log.warning("ui form refused: CSRF token missing or wrong", extra={"login": user["login"], "path": path})
                return refuse(403, "Form refused", "the form's CSRF token is missing or not this session's; "
                                                   "reload the page and try again")
        g.ui_user = user
        return None

    @app.after_request
    def ui_headers(response: Response) -> Response:
        if response.mimetype == "text/html" or request.path in ("/login", "/oauth/callback"):
            for key, value in SECURITY_HEADERS.items():
                response.headers.setdefault(key, value)
        return response

    @app.get("/login")
    def login():
        if not enabled:
            return refuse(503, "Sign-in is not configured", "see docs/production.md, \"Sign-in to the status UI\"")
        state = new_secret()
        # A signed-in session is kept until the callback replaces it: a link to /login on another
        # site (a GET, so SameSite=Lax sends the cookie) must not sign anyone out.
        if not isinstance(session.get("login"), str):
            session.clear()
        session["oauth_state"] = state
        session["next"] = safe_return_path(request.args.get("next"))
        session["started"] = time.time()
        return redirect(authorize_url(settings.github_web_url, settings.github_client_id,
                                      settings.oauth_callback_url, state))

    @app.get("/oauth/callback")
    def oauth_callback():
        if not enabled:
            return refuse(503, "Sign-in is not configured", "see docs/production.md")
        expected = session.pop("oauth_state", None)
        started = session.pop("started", None)
        next_path = safe_return_path(session.pop("next", None))
        if request.args.get("error"):
            return refuse(403, "Sign-in cancelled", "GitHub did not authorise the sign-in; start again from the index")
        if not same_secret(expected, request.args.get("state")) or not session_current(started, time.time(), 600):
            log.warning("ui sign-in refused: state missing, stale or not this browser's")
            return refuse(400, "Sign-in refused", "the sign-in's state does not match this browser's (or is older "
                                                  "than 10 minutes); start again from the index")
        code = request.args.get("code") or ""
        if not code or len(code) > 200:
            return refuse(400, "Sign-in refused", "GitHub sent no sign-in code")
        try:
            token = exchange(settings.github_web_url, settings.github_client_id,
                             settings.github_client_secret.get(), code, settings.oauth_callback_url)
            api = user_api(settings.github_api_url, token)
            who = api.login()
            allowed, reason = check_person(api, who)
            if not allowed:
                session.clear()
                log.info("ui sign-in refused: not a member", extra={"login": who, "reason": reason})
                return refuse(403, "Not allowed", f"{who}: {reason}. Ask an owner of {ui.organization} for access.")
            repos = readable_repositories(api)
        except GitHubUserError as exc:
            log.warning("ui sign-in failed", extra={"error": str(exc)[:200]})
            return refuse(502, "Sign-in failed", str(exc))
        session.clear()
        session.permanent = True
        session.update(login=who, at=time.time(), checked=time.time(), repos=repos,
                       tok=fernet.encrypt(token.encode()).decode(), csrf=new_secret(), sid=new_secret())
        size = len(app.session_interface.get_signing_serializer(app).dumps(dict(session)))
        if size > MAX_COOKIE_BYTES:  # a browser would drop it silently: every page would ask to sign in again
            session.clear()
            log.error("ui sign-in: the session does not fit a cookie",
                      extra={"login": who, "repositories": len(repos), "bytes": size})
            return refuse(500, "Sign-in failed", f"you can read {len(repos)} of the bot's repositories, more than a "
                                                 "session cookie holds; tell the bot's operators")
        log.info("ui sign-in", extra={"login": who, "repositories": len(repos)})
        return redirect(next_path)

    @app.post("/logout")
    def logout():
        log.info("ui sign-out", extra={"login": g.ui_user["login"]})
        started = float(session.get("at") or time.time())
        # Ended for good: a copy of this cookie taken before is refused too, until it would expire.
        store.end_session(_sid_hash(session["sid"]), dt.datetime.fromtimestamp(started, dt.timezone.utc)
                          + dt.timedelta(seconds=lifetime))
        session.clear()
        return page("signed_out.html")

    @app.get("/")
    def index():
        readable = g.ui_user["repositories"]
        views = status.endpoints(store, readable)
        flights = status.rollouts(store, readable)
        by_env: dict[str, list] = {}
        for v in views:
            by_env.setdefault(v.environment, []).append(v)
        order = [e for e in settings.server.ordered_environments() if e in by_env] + sorted(
            e for e in by_env if e not in settings.server.environments)
        return page("index.html", by_env=by_env, order=order, rollouts=flights,
                    refresh=REFRESH_SECONDS if flights else None)

    @app.get("/rollouts")
    def rollouts():
        flights = status.rollouts(store, g.ui_user["repositories"])
        return page("rollouts.html", rollouts=flights, refresh=REFRESH_SECONDS)

    @app.get("/endpoints/<environment>/<endpoint>")
    def endpoint(environment: str, endpoint: str):
        # A NUL byte (%00) names nothing, and PostgreSQL refuses it in a text parameter (a 500).
        detail = (None if "\x00" in environment + endpoint
                  else status.endpoint_detail(store, environment, endpoint, g.ui_user["repositories"]))
        if detail is None:
            return refuse(404, "Not found", f"no endpoint {endpoint} in {environment} that you can see")
        return page("endpoint.html", d=detail, v=detail.view,
                    refresh=REFRESH_SECONDS if detail.view.rollout else None)

    @app.get("/deployments/<int(max=2147483647):pk>")  # the store's ids are 32-bit: larger ones are 404
    def deployment(pk: int):
        chain = status.deployment_chain(store, pk, g.ui_user["repositories"])
        if chain is None:
            return refuse(404, "Not found", f"no deployment {pk} that you can see")
        row = store.deployment(pk)
        flight = status.rollout_view(store, row) if row.status in status.ACTIVE else None
        return page("deployment.html", c=chain, flight=flight, experiment=status.experiment_view(row),
                    refresh=REFRESH_SECONDS if flight else None)

    @app.get("/drift")
    def drift():
        return page("drift.html", repositories=status.drift(store, g.ui_user["repositories"]),
                    github_web_url=settings.github_web_url.rstrip("/"))

    @app.get("/locks")
    def locks():
        held, holds = status.locks_and_holds(store, g.ui_user["repositories"])
        return page("locks.html", locks=held, holds=holds)
