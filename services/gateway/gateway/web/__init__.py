"""The officers' web pages: server-rendered HTML (Jinja2) over the same RPC the JSON API calls.

Part of the gateway (it holds no database): a page reads what a JSON route would read and
writes through the same service calls. Sign-in is the accounts service's; the browser holds
only a session cookie (HttpOnly, SameSite=Strict, Secure over https). Every form carries the
session's synchronizer token (CSRF): a POST without it, or from another origin, changes
nothing and is answered 403. May import gateway.access, shared/ and its own modules.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import eventlet
from jinja2 import Environment, FileSystemLoader, select_autoescape
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import RpcProxy
from werkzeug.wrappers import Response

from gateway import access
from gateway.access import ADMIN, AUDITOR, OFFICER, OPERATOR, ROLE_NAMES_VI, ROLES, SECRETARY
from gateway.web import views
from shared.contracts.accounts import ROLES as ACCOUNT_ROLES
from shared.council_queues import service_name as council_service
from shared.errors import DomainError, InvalidInput, SignInRefused

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "exemplars_session"
LOGIN_COOKIE = "exemplars_login"  # the sign-in form's token, before there is a session (double submit)
RPC_TIMEOUT_S = float(os.environ.get("GATEWAY_RPC_TIMEOUT_S", "60"))
# Behind a TLS-terminating proxy the gateway itself sees http: GATEWAY_COOKIE_SECURE=1 marks the cookie Secure.
COOKIE_SECURE = os.environ.get("GATEWAY_COOKIE_SECURE", "") in ("1", "true", "yes")
MAX_FORM_BYTES = 64 * 1024
CSS = (HERE / "static" / "site.css").read_bytes()

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                        trim_blocks=True, lstrip_blocks=True)
templates.filters["date_vn"] = views.date_vn
templates.globals["role_name"] = ROLE_NAMES_VI.get


class PageError(Exception):
    """A page refused: ``status`` and the Vietnamese sentence shown."""

    def __init__(self, status: int, message: str, log_message: str):
        super().__init__(message)
        self.status, self.message, self.log_message = status, message, log_message


def render(name: str, status: int = 200, **context) -> Response:
    response = Response(templates.get_template(name).render(**context), status=status,
                        content_type="text/html; charset=utf-8")
    # Pages are per person: never cached, never framed, no script but our own.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self'; script-src 'self'; "
                                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def redirect(location: str) -> Response:
    response = Response(status=303)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response


def secure(request) -> bool:
    return COOKIE_SECURE or request.scheme == "https"


def set_cookie(response: Response, request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Strict",
                        secure=secure(request))


def form_of(request) -> dict:
    """An urlencoded form, read up to MAX_FORM_BYTES."""
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise PageError(413, "Nội dung gửi lên quá lớn.", "form over limit")
    raw = request.environ["wsgi.input"].read(request.content_length or 0) if request.content_length else b""
    return dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))


def same_origin(request) -> bool:
    """A browser names where a POST comes from (Origin, else Referer): it must be this site."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return source is None  # no header at all: not a browser's cross-site post
    return urlsplit(source).netloc == request.host


def principal_of_account(account: dict) -> access.Principal:
    return access.Principal(sub=account["user_name"], role=account["role"], department=account.get("department"),
                            council=account.get("council"), token_id="session")


class Visitor:
    """Who is signed in on this request: their account, principal and the session's CSRF token."""

    def __init__(self, session: dict):
        self.account = session["account"]
        self.csrf_token = session["csrf_token"]
        self.principal = principal_of_account(self.account)


def page(*roles: str, writes: bool = False):
    """A page for signed-in ``roles``: no session goes to /login; another role gets a 403 page;
    a POST (``writes``) must carry the session's CSRF token and come from this site."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"page() needs known roles, got {roles}")

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(self, request, *args, **kwargs):
            visitor = None
            try:
                with eventlet.Timeout(RPC_TIMEOUT_S):
                    form = form_of(request) if writes else None
                    if writes and not same_origin(request):  # refused before anything is looked up
                        check_csrf(request, None, "")
                    visitor = self.visitor(request)
                    if visitor is None:
                        return redirect("/login")
                    if writes:
                        check_csrf(request, form.get("csrf_token"), visitor.csrf_token)
                        kwargs["form"] = form
                    if visitor.principal.role not in roles:
                        raise PageError(403, "Vai trò của bạn không được mở trang này.",
                                        f"role {visitor.principal.role} refused a page of {roles}")
                    return handler(self, request, visitor, *args, **kwargs)
            except PageError as error:
                return refused_page(request, visitor, error)
            except eventlet.Timeout:
                return refused_page(request, visitor, PageError(
                    504, "Hệ thống không trả lời kịp. Thao tác có thể đã được lưu: hãy tải lại trang để kiểm tra.",
                    "no reply in time"))
            except (RemoteError, UnknownService) as error:
                return refused_page(request, visitor, PageError(
                    503, "Một dịch vụ của hệ thống đang không trả lời; vui lòng thử lại sau.", repr(error)))

        wrapper.page_roles = roles
        return wrapper

    return decorate


def check_csrf(request, sent: str | None, expected: str) -> None:
    if not same_origin(request) or not sent or not hmac.compare_digest(sent, expected):
        raise PageError(403, "Biểu mẫu không hợp lệ hoặc đã cũ (thiếu mã bảo vệ). Không có gì bị thay đổi; "
                        "hãy mở lại trang và gửi lại.", "CSRF token missing, wrong or cross-origin")


def refused_page(request, visitor: Visitor | None, error: PageError) -> Response:
    log.warning("page refused: %s %s -> %s %s", request.method, request.path, error.status, error.log_message)
    return render("refused.html.j2", status=error.status, visitor=visitor, message=error.message,
                  status_code=error.status)


def public_page(handler):
    """A page anyone may open (the sign-in form, the stylesheet)."""
    handler.public_page = True
    return handler


def route(method: str, url: str):
    """Marks a page's route; ``mount`` makes it the gateway's entrypoint (gateway.http has the handler)."""
    def mark(handler):
        handler.web_route = (method, url)
        return handler

    return mark


def mount(http) -> None:
    """Every marked page becomes an entrypoint of ``http`` (once: gateway.http calls this at import)."""
    for name, handler in list(vars(WebPages).items()):
        if hasattr(handler, "web_route") and not hasattr(handler, "nameko_entrypoints"):
            setattr(WebPages, name, http(*handler.web_route)(handler))


def pages() -> dict:
    """name -> handler of every page route."""
    return {name: fn for name, fn in vars(WebPages).items() if hasattr(fn, "web_route")}


class WebPages:
    """The pages, mixed into the gateway service (gateway.http): one process, one address."""

    accounts = RpcProxy("accounts")

    def visitor(self, request) -> Visitor | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            return None
        try:
            return Visitor(self.accounts.session(session_id))
        except SignInRefused:
            return None

    @route("GET", "/static/site.css")
    @public_page
    def stylesheet(self, request):
        response = Response(CSS, content_type="text/css; charset=utf-8")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @route("GET", "/login")
    @public_page
    def login_form(self, request):
        if self.visitor(request) is not None:
            return redirect("/")
        return self._login_page(request, signed_out="signed_out" in request.args)

    def _login_page(self, request, status: int = 200, error: str | None = None, user_name: str = "",
                    signed_out: bool = False) -> Response:
        token = secrets.token_urlsafe(32)
        response = render("login.html.j2", status=status, visitor=None, csrf_token=token, error=error,
                          user_name=user_name, signed_out=signed_out)
        set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
        return response

    @route("POST", "/login")
    @public_page
    def login(self, request):
        try:
            form = form_of(request)
            check_csrf(request, form.get("csrf_token"), request.cookies.get(LOGIN_COOKIE) or "")
        except PageError as error:
            return refused_page(request, None, error)
        user_name = (form.get("user_name") or "").strip()
        try:
            with eventlet.Timeout(RPC_TIMEOUT_S):
                signed = self.accounts.sign_in({"user_name": user_name, "password": form.get("password") or ""})
        except SignInRefused as refusal:
            return self._login_page(request, 401, refusal.message, user_name)
        except (eventlet.Timeout, RemoteError, UnknownService) as error:
            log.error("sign-in failed: %r", error)
            return self._login_page(request, 503, "Hệ thống đăng nhập đang không trả lời; vui lòng thử lại sau.",
                                    user_name)
        response = redirect("/")
        set_cookie(response, request, SESSION_COOKIE, signed["session_id"])  # a browser session's cookie
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    @route("POST", "/logout")
    @page(*ROLES, writes=True)
    def logout(self, request, visitor, form):
        everywhere = form.get("everywhere") == "1"
        self.accounts.sign_out(request.cookies.get(SESSION_COOKIE), everywhere)
        response = redirect("/login?signed_out")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @route("GET", "/")
    @page(*ROLES)
    def home(self, request, visitor):
        """Việc cần làm: each role's own work, from the same calls as the JSON API."""
        principal, names = visitor.principal, views.Names(self.reference.catalog)
        context = {"visitor": visitor, "names": names, "today": views.today_in_hanoi()}
        if principal.role == OFFICER:
            listed = self.nominations.list(access.list_filters(principal, {"limit": 1000}))
            context |= {"exemplars": views.officer_work(listed), "total": listed["total"],
                        "served": principal.department == self.settings.department}
        elif principal.role == SECRETARY:
            try:
                cases = self.rpc(council_service(principal.council)).cases(None, 1000, 0)
                context |= {"cases": views.secretary_work(cases), "council_running": True}
            except UnknownService:
                context |= {"cases": [], "council_running": False}
        elif principal.role == AUDITOR:
            due, days = views.report_deadline(context["today"])
            context |= {"report_due": due, "days_left": days, "report_year": due.year}
        elif principal.role == OPERATOR:
            context |= {"parked": self.notifications.parked(1, 0)["total"]}
        elif principal.role == ADMIN:
            context |= {"accounts_total": self.accounts.accounts(1, 0)["total"]}
        return render("home.html.j2", **context)

    # -- the administrator's -------------------------------------------------------------

    @route("GET", "/admin/accounts")
    @page(ADMIN)
    def accounts_page(self, request, visitor):
        return self._accounts_page(visitor)

    def _accounts_page(self, visitor, status: int = 200, error: DomainError | None = None, typed: dict | None = None,
                       done: str | None = None) -> Response:
        catalog = self.reference.catalog
        return render("accounts.html.j2", status=status, visitor=visitor, names=views.Names(catalog),
                      accounts=self.accounts.accounts(1000, 0)["items"], roles=ACCOUNT_ROLES,
                      departments=sorted(catalog.topology.departments.values(), key=lambda d: d.name),
                      councils=sorted(catalog.topology.councils.values(), key=lambda c: c.name),
                      error=error, field=getattr(error, "detail", None) if isinstance(error, InvalidInput) else None,
                      typed=typed or {}, done=done)

    @route("POST", "/admin/accounts")
    @page(ADMIN, writes=True)
    def create_account_page(self, request, visitor, form):
        data = {key: form.get(key, "").strip() for key in ("user_name", "display_name", "role", "department",
                                                             "council")}
        data = {key: value for key, value in data.items() if value} | {"password": form.get("password", "")}
        if data.get("role") != OFFICER:
            data.pop("department", None)  # the form shows every field; only the role's own scope counts
        if data.get("role") != SECRETARY:
            data.pop("council", None)
        try:
            created = self.accounts.create_account(data, self.signed_caller(visitor.principal))
        except DomainError as error:
            typed = {k: v for k, v in data.items() if k != "password"}
            return self._accounts_page(visitor, error.http_status, error, typed)
        return self._accounts_page(visitor, 201, done=f"Đã tạo tài khoản «{created['user_name']}».")

    @route("POST", "/admin/accounts/<string:user_name>/disable")
    @page(ADMIN, writes=True)
    def disable_account_page(self, request, visitor, user_name, form):
        try:
            self.accounts.disable_account(user_name, {}, self.signed_caller(visitor.principal))
        except DomainError as error:
            return self._accounts_page(visitor, error.http_status, error)
        return self._accounts_page(visitor, done=f"Đã vô hiệu hoá tài khoản «{user_name}» và đóng mọi phiên của nó.")
