"""The FastAPI application: the JSON API (``facesift.api``), the web pages
(``facesift.web``), and what guards them all.

Guards (the ``Guard`` middleware), outermost first:
- until an admin account exists, everything but ``/healthz`` answers 503 with how to make one;
- state-changing requests from another site's pages (by their Origin) are refused;
- no app-wide lock: each request's worker thread has its own database connection (see
  ``store.database.Database``), so page views, reviews and searches run side by side and a
  probe's analysis holds up nobody but its own request;
- a request body over the upload limit is refused before it is read, and any body on a
  method that takes none; JSON with non-finite numbers or lone surrogates is 422; a Host
  not in the ``trusted_hosts`` setting is 400 (see ``input_guard``);
- every response carries security headers (CSP, frame-ancestors, no-sniff, no-store), and
  over HTTPS ``Strict-Transport-Security``.
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from importlib import resources

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facesift import index
from facesift.api import routes
from facesift.compose import Services, open_services
from facesift.config import Config
from facesift.errors import FacesiftError, Forbidden, ImageError, InvalidInput, NotFound
from facesift.logs import configure_logging
from facesift.server import input_guard
from facesift.server.lanes import open_analysis_lane
from facesift.services import retention
from facesift.services.single_sign_on import OidcConfig, SingleSignOn
from facesift.store.database import describe_url, resolve_url
from facesift.web import (
    face_pages,
    gallery_pages,
    optout_pages,
    oversight_pages,
    pages,
    review_pages,
    security_pages,
)

log = logging.getLogger(__name__)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
# Swagger UI starts itself with an inline script; only /docs gets that allowance.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
NO_ADMIN_MESSAGE = (
    "facesift has no admin account yet, so it serves nothing. On the server, run: "
    "facesift users add NAME --role admin --data-dir DATA_DIR"
)
BODY_SLACK = 64 * 1024  # room for the form fields around an upload
HSTS = "max-age=31536000; includeSubDomains"

_STATUS = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "search_refused": 403,
    "not_found": 404,
    "conflict": 409,
    "rate_limited": 429,
    "busy": 503,
    "too_large": 413,
    "not_an_image": 415,
    "unsupported_format": 415,
}


def status_for(error: FacesiftError) -> int:
    if error.code in _STATUS:
        return _STATUS[error.code]
    return 422 if isinstance(error, ImageError) else 400


def create_app(config: Config, *, freeze_after_start: bool = False) -> FastAPI:
    """The app for ``config``; its services are opened when the app starts.

    ``freeze_after_start``, for a server process (``facesift serve``): once the services are
    open, everything made so far (modules, routes, the services and their caches) lives as
    long as the process, yet each full collection of the garbage collector scanned all of it
    with every thread stopped: 80-130 ms every 8-10 s at 50 users (``bench/load.py``), the
    slowest reads' latency. Frozen (``gc.freeze``), it is never scanned again, and a full
    collection takes 6-7 ms. Not for apps made in a test process, where each test's app would
    then never be collected."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = open_services(config)
        index.one_thread_per_search()  # many requests at once, one query each
        open_analysis_lane(app, config.server.probe_processes())
        if freeze_after_start:
            gc.collect()
            gc.freeze()
        log.info(
            "serving %s (database %s, vectors %s, detector %s)",
            config.data_dir,
            describe_url(resolve_url(config.data_dir, config.database_url)),
            "Milvus" if config.vectors else "FAISS in the data folder",
            config.vision.detector,
        )
        svc = app.state.services
        hours = config.server.retention_hours
        task = (
            retention.RetentionTask(
                svc.gallery, lambda: svc.settings.get("retention"), hours * 3600
            ).start()
            if hours
            else None
        )
        app.state.retention_task = task
        try:
            yield
        finally:
            if task is not None:
                task.stop()
            app.state.services.close()

    app = FastAPI(
        title="facesift",
        summary="Accountable face search: cases, candidate lists, two-person review, audit.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.single_sign_on = SingleSignOn(OidcConfig.from_environment())
    app.mount("/static/swagger", StaticFiles(directory=_swagger_assets()), name="swagger")
    app.mount("/static", StaticFiles(packages=[("facesift.web", "static")]), name="static")
    for router in (
        routes.router,
        pages.router,
        optout_pages.router,
        oversight_pages.router,
        security_pages.router,
        review_pages.router,
        face_pages.router,
        gallery_pages.router,
    ):
        _add_routes(app, router)
    _add_docs(app)
    _add_guards(app)
    _add_error_handlers(app)
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, and those of the routers it includes, as the app's own.

    ``app.include_router`` would keep each router as a layer that every request's match goes
    through: with about 90 routes under 17 routers, that matching was a third of the event
    loop's CPU at 50 users (FastAPI 0.165). No router here is included with a prefix, tags
    or dependencies of its own (each route has its whole path), so the routes themselves are
    all the app needs."""
    for route in router.routes:
        included = getattr(route, "original_router", None)  # an included router's layer
        if isinstance(included, APIRouter):
            _add_routes(app, included)
        else:
            app.router.routes.append(route)


def app_from_environment() -> FastAPI:
    """The app of one ``facesift serve --workers N`` process: its configuration comes from
    the environment the command set (``Config.environment``)."""
    config = Config()
    configure_logging(config.log_level or "INFO")
    return create_app(config, freeze_after_start=True)


def _swagger_assets() -> str:
    return str(resources.files("fastapi_offline") / "static")


def _add_docs(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="facesift API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )


def _add_guards(app: FastAPI) -> None:
    app.add_middleware(Guard)


class Guard:
    """The guards of every request, as plain ASGI middleware.

    Not ``@app.middleware("http")``: Starlette runs such middleware as a task of its own
    with the answer streamed back through a queue, about 0.3 ms of the event loop's CPU a
    request (``/healthz`` 0.74 ms in-process with it, 0.44 without), and the loop is the
    one thread every request shares."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = request.url.path
        send = _secured(send, path, https=request.url.scheme == "https")
        if path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        svc: Services = request.app.state.services
        refused = _refused_input(request, svc) or _cross_site_refusal(request)
        refused = refused or _oversized(request, svc)
        if refused is not None:
            await refused(scope, receive, send)
            return
        # Receive the whole (size-checked) body first, so a slow upload holds no thread.
        body = await _whole_body(receive)
        if body is None:
            return  # the client went away
        if body and request.headers.get("content-type", "").startswith("application/json"):
            problem = input_guard.bad_json_values(body)
            if problem is not None:  # 422, naming the problem, never the value
                await _refusal(422, "bad_json_value", problem)(scope, receive, send)
                return
        if path != "/healthz" and not await _has_admin(request.app, svc):
            no_admin = {"error": "no_admin", "message": NO_ADMIN_MESSAGE}
            await JSONResponse(no_admin, status_code=503)(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)


async def _whole_body(receive: Receive) -> bytes | None:
    """The request's body, all of it; None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body already read, then whatever comes next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _secured(send: Send, path: str, https: bool) -> Send:
    """``send`` that puts the security headers on every answer."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            _secure(headers, path)
            if https:  # browsers then refuse plain HTTP for a year
                headers["Strict-Transport-Security"] = HSTS
        await send(message)

    return secured


def _cross_site_refusal(request: Request) -> Response | None:
    if not _cross_site(request):
        return None
    message = {"error": "forbidden", "message": "cross-site requests are refused"}
    return JSONResponse(message, status_code=403)


async def _has_admin(app: FastAPI, svc: Services) -> bool:
    """Whether an admin exists: asked of the database until one does, then never again (the
    last active admin cannot be removed), which spares every request a thread and a query."""
    if not getattr(app.state, "admin_seen", False):
        app.state.admin_seen = await anyio.to_thread.run_sync(svc.accounts.has_admin)
    return bool(app.state.admin_seen)


def _cross_site(request: Request) -> bool:
    """A state-changing request sent by a page of another site. Browsers always send Origin
    on such requests; refusing them stops forged sign-ins, which no CSRF token can (the
    sign-in form comes before any session)."""
    origin = request.headers.get("origin")
    if request.method in ("GET", "HEAD", "OPTIONS") or not origin:
        return False  # scripts and same-origin navigations
    # "null": a page hiding where it comes from, e.g. a sandboxed frame or no-referrer.
    # Scheme, host and port must all be ours: http://host is not https://host.
    return not input_guard.same_origin(origin, request.url.scheme, request.headers.get("host"))


def _refusal(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _refused_input(request: Request, svc: Services) -> Response | None:
    if input_guard.body_not_allowed(request.method, request.headers):
        return _refusal(400, "body_not_allowed", f"a {request.method} request takes no body")
    if request.url.path == "/healthz":  # answers nothing but "ok", to any host
        return None
    trusted = svc.settings.get("trusted_hosts")
    if input_guard.untrusted_host(request.headers.get("host"), trusted):
        return _refusal(400, "untrusted_host", "this server does not answer to that host name")
    return None


def _oversized(request: Request, svc: Services) -> Response | None:
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return None
    limit = svc.settings.get("max_upload_bytes") + BODY_SLACK
    length = request.headers.get("content-length")
    if length is None:
        if request.headers.get("transfer-encoding"):
            return JSONResponse(
                {"error": "length_required", "message": "send a Content-Length header"},
                status_code=411,
            )
        return None
    if not length.isdigit() or int(length) > limit:
        return JSONResponse(
            {"error": "too_large", "message": f"the request is over the limit of {limit:,} bytes"},
            status_code=413,
        )
    return None


def _secure(headers: MutableHeaders, path: str) -> None:
    headers["Content-Security-Policy"] = DOCS_CSP if path == "/docs" else CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    # same-origin, not no-referrer: with no-referrer, browsers send "Origin: null" even on
    # our own forms, and the cross-site check below could not tell them from a forgery.
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if not path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"  # candidate lists and faces stay off disk caches


def _audit_refusal(request: Request, error: Forbidden) -> None:
    """Every refusal of a signed-in caller goes on the audit log with its rule. (Anonymous
    requests are refused before anyone is known: 401, not audited.)"""
    caller = getattr(request.state, "caller", None)
    if caller is None:
        return
    svc: Services = request.app.state.services
    svc.oversight.record_refusal(caller.principal, error.message, request.method, request.url.path)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        """An unknown address or method: the same answer as any other error (a page for a
        browser, ``{"error", "message"}`` for the API), not Starlette's ``{"detail"}``."""
        known: dict[int, FacesiftError] = {404: NotFound("there is nothing at this address")}
        if error.status_code == 405:
            known[405] = InvalidInput(f"{request.method} is not allowed at this address")
        problem = known.get(error.status_code)
        if problem is None:
            return await http_exception_handler(request, error)
        if pages.wants_html(request):
            return pages.error_page(request, problem, error.status_code)
        body = {"error": problem.code, "message": problem.message}
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(FacesiftError)
    async def facesift_error(request: Request, error: FacesiftError) -> Response:
        status = status_for(error)
        if isinstance(error, Forbidden):
            await anyio.to_thread.run_sync(_audit_refusal, request, error)
        if pages.wants_html(request):
            return pages.error_page(request, error, status)
        response = JSONResponse({"error": error.code, "message": error.message}, status_code=status)
        if status in (429, 503):  # try again later: say when
            response.headers["Retry-After"] = str(getattr(error, "retry_after", 60))
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        if not pages.wants_html(request):
            return await request_validation_exception_handler(request, error)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in error.errors()
        )
        return pages.error_page(request, InvalidInput(f"the form is incomplete: {problems}"), 422)
