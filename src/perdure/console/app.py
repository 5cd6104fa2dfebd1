"""The console's pages and actions (Starlette routes over Jinja2 templates).

Reads go through the Engine's own calls (``get_execution``, ``history``) and the
read-only views in :mod:`perdure.ops.inspection`; actions call exactly what the Lambda API
calls (``stop_execution``, ``pause_execution``, ``resume_execution``,
``delete_execution``, ``callback``). Engine calls block, so they run in a thread.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio.to_thread
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from perdure.console import formatting, gantt, login, timeline
from perdure.console.logs_panel import LogsPanel
from perdure.console.plugins import ConsolePlugin, load_plugins
from perdure.console.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    Authenticate,
    Forbidden,
    Viewer,
    check_post,
    csrf_token,
    set_csrf_cookie,
)
from perdure.core import OPEN, Engine
from perdure.errors import InvalidParameterValue, RequestTooLarge, ResourceNotFound, ServiceError
from perdure.ops import ExecutionQuery, all_events, execution_counts, operations, search_executions
from perdure.store import ExecutionRow, TransientStoreError

log = logging.getLogger("perdure.console")

PREFIX = "/console"
STATUSES = ("RUNNING", "PAUSING", "PAUSED", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED")
PAGE_SIZES = (25, 50, 100, 200)
HISTORY_PAGE = 200
ACTIONS = ("stop", "pause", "resume", "delete", "advance")
MAX_FORM_BYTES = 2 * 1024 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form (what the console's pages post), without python-multipart."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidParameterValue("expected a form (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise RequestTooLarge(f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise InvalidParameterValue("the form is not UTF-8") from exc
    return dict(pairs)


def _parse_time(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    try:
        return int(float(raw))  # epoch milliseconds (what the page's script sends)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidParameterValue(f"{name} must be a date and time, like 2026-01-31T12:00") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class Console:
    """The console as an ASGI app (mounted at ``/console`` by :func:`with_console`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        authenticate: Authenticate = login.authenticate,
        plugins: Sequence[ConsolePlugin] | None = None,
        title: str = "perdure",
    ) -> None:
        self.engine = engine
        self.authenticate = authenticate
        self.title = title
        # The logs panel is built in; other packages add theirs (podscribe's review page).
        self.plugins = [LogsPanel(), *(load_plugins() if plugins is None else plugins)]
        loaders: list[Any] = [PackageLoader("perdure.console", "templates")]
        loaders.extend(FileSystemLoader(str(p.template_dir)) for p in self.plugins if p.template_dir)
        self.env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html"]))
        formatting.register(self.env)
        self.env.globals["gantt_rows"] = gantt.tree_html
        self.env.globals["gantt_bar"] = lambda bar, origin=None: Markup(gantt.bar_html(bar, origin))
        self.env.globals["prefix"] = PREFIX
        self.env.globals["title"] = title
        routes: list[BaseRoute] = [
            Route("/", self.functions_page),
            Route("/executions", self.executions_page),
            Route("/execution", self.execution_page),
            Route("/execution/payload", self.payload),
            Route("/execution/history", self.history_page),
            Route("/execution/operations", self.operations_page),
            Route("/execution/action", self.action, methods=["POST"]),
            Route("/callback", self.callback, methods=["POST"]),
            Route("/execution/rerun", self.rerun, methods=["POST"]),
            Route("/login", self.login_page, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"),
        ]
        for plugin in self.plugins:
            routes.append(Mount(f"/x/{plugin.name}", routes=plugin.routes(self)))
        self.app = Starlette(routes=routes, exception_handlers={
            ServiceError: self._service_error, Forbidden: self._forbidden, Exception: self._crash,
        })

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- helpers plugins use too ---------------------------------------------------

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    async def viewer(self, request: Request) -> Viewer | Response:
        return await self.authenticate(request)

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
        viewer = context.pop("viewer", None) or Viewer()
        body = self.env.get_template(template).render(
            request=request, csrf=csrf_token(request), csrf_field=CSRF_FIELD, csrf_header=CSRF_HEADER,
            viewer=viewer, **context,
        )
        response = HTMLResponse(body, status_code=status_code)
        set_csrf_cookie(request, response)
        return response

    async def form_post(self, request: Request) -> tuple[Viewer, dict[str, str]]:
        """The viewer and fields of a console POST, after the CSRF and write checks."""
        viewer = await self.viewer(request)
        if isinstance(viewer, Response):
            raise Forbidden("log in first")
        fields = await read_form(request)
        check_post(request, fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER), viewer)
        return viewer, fields

    @staticmethod
    def require(viewer: Viewer, action: str, function_name: str, arn: str | None = None) -> None:
        """Raise Forbidden unless the viewer's credential allows ``action`` here."""
        if not viewer.may(action, login.resources(function_name, arn)):
            raise Forbidden(f"{viewer.name or 'this credential'} may not use {action} on {arn or function_name}")

    def _readable_functions(self, viewer: Viewer) -> list[str]:
        return [f for f in sorted(self.engine.functions) if viewer.may(login.LIST_EXECUTIONS, login.resources(f))]

    def execution_url(self, arn: str, **extra: str) -> str:
        return f"{PREFIX}/execution?" + urlencode({"arn": arn, **extra})

    async def _service_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return self.render(request, "error.html", status_code=exc.status, message=str(exc), status=exc.status)

    async def _crash(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, TransientStoreError):
            message, status = f"The database is unavailable, try again: {exc}", 503
        else:
            log.error("console %s %s failed", request.method, request.url.path, exc_info=exc)
            message, status = "Internal error; see the perdure server log", 500
        return self.render(request, "error.html", status_code=status, message=message, status=status)

    async def _forbidden(self, request: Request, exc: Exception) -> Response:
        return self.render(request, "error.html", status_code=403, message=str(exc), status=403)

    # -- pages ---------------------------------------------------------------------

    async def functions_page(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if isinstance(viewer, Response):
            return viewer
        counts = await self.run(execution_counts, self.engine)
        functions = []
        readable = set(self._readable_functions(viewer))
        for name, spec in sorted(self.engine.functions.items()):
            if name not in readable:
                continue
            by_status = counts.get(name, {})
            functions.append({
                "spec": spec, "counts": by_status, "total": sum(by_status.values()),
                "version": getattr(spec, "version", None),
            })
        has_versions = any(f["version"] for f in functions)
        return self.render(
            request, "functions.html", viewer=viewer, functions=functions, statuses=STATUSES,
            has_versions=has_versions, page="functions",
        )

    def _execution_query(self, request: Request, viewer: Viewer) -> tuple[ExecutionQuery, dict[str, Any]]:
        params = request.query_params
        function = params.get("function") or ""
        if function and function not in self.engine.functions:
            raise InvalidParameterValue(f"Unknown function {function!r}")
        if function:
            self.require(viewer, login.LIST_EXECUTIONS, function)
        statuses = [s for s in params.getlist("status") if s]
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise InvalidParameterValue(f"Unknown status {bad[0]!r}; expected one of {', '.join(STATUSES)}")
        started_after = _parse_time(params.get("from"), "from")
        started_before = _parse_time(params.get("to"), "to")
        text = (params.get("q") or "").strip()
        try:
            size = int(params.get("size") or 50)
        except ValueError as exc:
            raise InvalidParameterValue("size must be a number") from exc
        if size not in PAGE_SIZES:
            raise InvalidParameterValue(f"size must be one of {', '.join(map(str, PAGE_SIZES))}")
        query = ExecutionQuery(
            functions=[function] if function else (None if viewer.permits is None else self._readable_functions(viewer)),
            statuses=statuses,
            started_after_ms=started_after, started_before_ms=started_before, text=text or None,
        )
        filters = {"function": function, "status": statuses, "q": text, "size": size,
                   "from": params.get("from") or "", "to": params.get("to") or ""}
        return query, filters

    async def executions_page(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if isinstance(viewer, Response):
            return viewer
        query, filters = self._execution_query(request, viewer)
        marker = request.query_params.get("marker") or None
        back = [m for m in (request.query_params.get("back") or "").split(",") if m]
        rows, next_marker = await self.run(search_executions, self.engine, query, marker, filters["size"])
        # A query that names one execution exactly (an ARN) goes straight to it.
        if not marker and query.text and len(rows) == 1 and rows[0].arn == query.text:
            return RedirectResponse(self.execution_url(rows[0].arn), status_code=303)
        base = [(k, v) for k, vs in filters.items() for v in (vs if isinstance(vs, list) else [vs]) if v not in ("", None)]
        next_url = prev_url = None
        if next_marker:
            next_url = "?" + urlencode([*base, ("marker", next_marker), ("back", ",".join([*back, marker or ""]))])
        if marker:
            prev = back[-1] if back else ""
            prev_url = "?" + urlencode([*base, *([("marker", prev)] if prev else []), ("back", ",".join(back[:-1]))])
        template = "_executions_table.html" if request.query_params.get("partial") else "executions.html"
        return self.render(
            request, template, viewer=viewer, rows=rows, filters=filters, statuses=STATUSES,
            functions=self._readable_functions(viewer), next_url=next_url, prev_url=prev_url,
            first_page=marker is None, page_sizes=PAGE_SIZES, page="executions", now=self.engine.clock.now_ms(),
        )

    def _load_execution(self, arn: str) -> dict[str, Any]:
        row = self.engine.get_execution(arn)
        ops = [{k: v for k, v in op.items() if not k.startswith("_")} for op in operations(self.engine, arn)]
        events = all_events(self.engine, arn, include_data=True)
        now = self.engine.clock.now_ms()
        running = row.invocation_start_ms if row.invocation_id else None
        tl = timeline.build(ops, events, now, execution_end_ms=row.end_ms, running_since_ms=running)
        return {"row": row, "operations": ops, "events": events, "timeline": tl, "now": now}

    async def execution_page(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if isinstance(viewer, Response):
            return viewer
        arn = request.query_params.get("arn") or ""
        if not arn:
            raise InvalidParameterValue("arn is required")
        data = await self.run(self._load_execution, arn)
        row: ExecutionRow = data["row"]
        self.require(viewer, login.READ_EXECUTION, row.function_name, row.arn)
        events: list[dict[str, Any]] = data["events"]
        payloads = {}
        for field, value in (("input", row.input), ("result", row.result), ("error", row.error)):
            text, cut = formatting.pretty(value)
            payloads[field] = {"text": text, "cut": cut, "size": len(value or "")}
        invocations = [e for e in events if e["EventType"] == "InvocationCompleted"]
        rows = timeline.flatten(data["timeline"].rows)
        pending = [r for r in rows if r.pending_callback and r.callback_id]
        links: list[tuple[str, str]] = []
        panels: list[tuple[str, Any]] = []
        for plugin in self.plugins:
            links.extend(plugin.links(self, row, data["operations"]))
            # Optional: sections of HTML under the timeline (logs, for example).
            panel_fn = getattr(plugin, "panels", None)
            if panel_fn is not None:
                panels.extend(await self.run(panel_fn, self, row, data["operations"]))
        template = "_execution_live.html" if request.query_params.get("partial") else "execution.html"
        return self.render(
            request, template, viewer=viewer, row=row, payloads=payloads, timeline=data["timeline"],
            op_count=len(rows), events=events[:HISTORY_PAGE], event_count=len(events),
            history_more=len(events) > HISTORY_PAGE, invocations=invocations, pending=pending,
            links=links, panels=panels, is_open=row.status in OPEN, now=data["now"], page="executions",
            done=request.query_params.get("done"), version=f"{row.status}:{row.next_event_id}",
        )

    async def operations_page(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if isinstance(viewer, Response):
            return viewer
        arn = request.query_params.get("arn") or ""
        data = await self.run(self._load_execution, arn)
        self.require(viewer, login.READ_EXECUTION, data["row"].function_name, arn)
        return self.render(
            request, "operations.html", viewer=viewer, row=data["row"], timeline=data["timeline"],
            op_count=len(data["operations"]) - 1, now=data["now"], page="executions",
        )

    async def history_page(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if isinstance(viewer, Response):
            return viewer
        arn = request.query_params.get("arn") or ""
        marker = request.query_params.get("marker") or None
        row = await self.run(self.engine.get_execution, arn)
        self.require(viewer, login.READ_HISTORY, row.function_name, arn)
        events, next_marker = await self.run(self.engine.history, arn, marker, HISTORY_PAGE, False, True)
        return self.render(
            request, "history.html", viewer=viewer, row=row, events=events,
            next_url=f"?{urlencode({'arn': arn, 'marker': next_marker})}" if next_marker else None,
            page="executions",
        )

    async def payload(self, request: Request) -> Response:
        viewer = await self.viewer(request)
        if isinstance(viewer, Response):
            return viewer
        arn = request.query_params.get("arn") or ""
        field = request.query_params.get("field") or ""
        if field not in ("input", "result", "error"):
            raise InvalidParameterValue("field must be input, result or error")
        row: ExecutionRow = await self.run(self.engine.get_execution, arn)
        self.require(viewer, login.READ_EXECUTION, row.function_name, arn)
        value = {"input": row.input, "result": row.result, "error": row.error}[field]
        name = f"{row.name}-{field}.json"
        return Response(value or "null", media_type="application/json",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    # -- actions -------------------------------------------------------------------

    async def action(self, request: Request) -> Response:
        viewer, fields = await self.form_post(request)
        arn = fields.get("arn") or ""
        action = fields.get("action") or ""
        if action not in ACTIONS:
            raise InvalidParameterValue(f"action must be one of {', '.join(ACTIONS)}")
        row: ExecutionRow = await self.run(self.engine.get_execution, arn)
        self.require(viewer, login.ACTIONS[action], row.function_name, arn)
        reason = (fields.get("reason") or "").strip() or None
        if action == "stop":
            await self.run(self.engine.stop_execution, arn, None)
        elif action == "pause":
            await self.run(self.engine.pause_execution, arn, reason, True)
        elif action == "resume":
            await self.run(self.engine.resume_execution, arn, reason)
        elif action == "advance":  # development: fire a pending wait or retry now
            from perdure.ops import advance

            done = await self.run(advance, self.engine, arn, None)
            return RedirectResponse(self.execution_url(arn, done=f"advanced {len(done)} timer(s) (development)"), status_code=303)
        else:
            await self.run(self.engine.delete_execution, arn)
            return RedirectResponse(f"{PREFIX}/executions?done=deleted", status_code=303)
        return RedirectResponse(self.execution_url(arn, done=f"{action} requested"), status_code=303)

    async def callback(self, request: Request) -> Response:
        viewer, fields = await self.form_post(request)
        callback_id = fields.get("callback_id") or ""
        op = fields.get("op") or ""
        if not callback_id:
            raise InvalidParameterValue("callback_id is required")
        if op not in ("succeed", "fail", "heartbeat"):
            raise InvalidParameterValue("op must be succeed, fail or heartbeat")
        if viewer.permits is not None:
            owner = await self.run(self._callback_owner, callback_id)
            self.require(viewer, login.ACTIONS[op], owner.function_name, owner.arn)
        if op == "succeed":
            result = fields.get("result") or ""
            if result.strip():
                try:
                    json.loads(result)
                except json.JSONDecodeError as exc:
                    raise InvalidParameterValue(f"The result is not valid JSON: {exc}") from exc
            await self.run(lambda: self.engine.callback(callback_id, "SUCCEEDED", result=result or None))
        elif op == "fail":
            error = {k: v for k, v in (
                ("ErrorType", (fields.get("error_type") or "").strip()),
                ("ErrorMessage", (fields.get("error_message") or "").strip()),
            ) if v}
            await self.run(lambda: self.engine.callback(callback_id, "FAILED", error=error))
        elif op == "heartbeat":
            await self.run(self.engine.callback, callback_id, "HEARTBEAT")
        else:
            raise InvalidParameterValue("op must be succeed, fail or heartbeat")
        arn = fields.get("arn") or ""
        back = self.execution_url(arn, done=f"callback {op} sent") if arn else f"{PREFIX}/"
        return RedirectResponse(back, status_code=303)

    async def rerun(self, request: Request) -> Response:
        """A new execution reusing the recorded results before an operation (perdure.ops.rerun,
        as ``perdure executions rerun`` and ``POST /perdure/v1/executions/{arn}/rerun``)."""
        from perdure.ops import rerun_execution

        viewer, fields = await self.form_post(request)
        arn = fields.get("arn") or ""
        row: ExecutionRow = await self.run(self.engine.get_execution, arn)
        self.require(viewer, login.RERUN, row.function_name, arn)
        from_op = fields.get("from") or None
        result = await self.run(lambda: rerun_execution(self.engine, arn, from_op))
        note = f"rerun of {row.name}" + (f" from {result.from_operation.get('Name') or result.from_operation['Id']}" if result.from_operation else "")
        return RedirectResponse(self.execution_url(result.row.arn, done=f"started as a {note}"), status_code=303)

    def _callback_owner(self, callback_id: str) -> ExecutionRow:
        with self.engine.store.read() as tx:
            found = tx.get_callback(callback_id)
        if found is None:
            raise ResourceNotFound(f"Callback not found: {callback_id}")
        return self.engine.get_execution(found[0])

    # -- signing in ----------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        authenticator = request.scope.get("perdure.auth")
        target = login.safe_next(request.query_params.get("next"), PREFIX)
        if authenticator is None:  # nothing to sign in to
            return RedirectResponse(target, status_code=303)
        if request.method == "GET":
            return self.render(request, "login.html", next=target, error=None)
        fields = await read_form(request)
        check_post(request, fields.get(CSRF_FIELD), Viewer())
        target = login.safe_next(fields.get("next"), PREFIX)
        credential = authenticator.login((fields.get("access_key_id") or "").strip(), fields.get("secret_access_key") or "")
        if credential is None:
            log.info("console sign-in refused for key %r", (fields.get("access_key_id") or "")[:40])
            return self.render(request, "login.html", status_code=401, next=target,
                               error="Unknown access key id or wrong secret.")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(login.SESSION_COOKIE, login.session_value(credential, time.time()), max_age=login.SESSION_S,
                            httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        fields = await read_form(request)
        check_post(request, fields.get(CSRF_FIELD), Viewer())
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(login.SESSION_COOKIE, path="/")
        return response
