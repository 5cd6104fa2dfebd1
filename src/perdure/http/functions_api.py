"""The Lambda API's functions, versions and aliases subset (rest-json, as botocore's
``lambda`` model defines it): GetFunction, GetFunctionConfiguration, ListFunctions,
ListVersionsByFunction, PublishVersion, GetAlias, ListAliases, CreateAlias,
UpdateAlias. Served by ``perdure.http.lambda_api.LambdaApi`` beside the durable-execution API.

PublishVersion snapshots the function as the served template describes it, with its
files as they are on disk now (``perdure.deploy.versions.publish``); ``perdure deploy``
does the same from the command line, for a whole template.
"""

from __future__ import annotations

import datetime as dt
import platform
import re
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from perdure.deploy import (
    LATEST,
    FunctionSpec,
    SnapshotError,
    function_arn,
    parse_qualified_name,
    publish,
    qualified_arn,
    set_alias,
    take_snapshot,
)
from perdure.errors import InvalidParameterValue, ResourceNotFound
from perdure.store import AliasRow, VersionRow

if TYPE_CHECKING:
    from perdure.run import Runtime
    from perdure.store import Transaction

Handler = Callable[[Request, str, str], Awaitable[Response]]
JsonReader = Callable[[Request, str], Awaitable[dict[str, Any]]]  # (request, operation)
Runner = Callable[..., Awaitable[Any]]

_PREFIX = r"^/2015-03-31/functions"
_ID = r"(?P<id>[^/]+)"


def _timestamp(ms: int | None) -> str:
    """Lambda's LastModified format: 2024-01-31T12:00:00.000+0000."""
    moment = dt.datetime.fromtimestamp((ms or 0) / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def configuration(spec: FunctionSpec, version: VersionRow | None, qualifier: str) -> dict[str, Any]:
    """A FunctionConfiguration. ``qualifier``: ``$LATEST`` or the version number."""
    durable: dict[str, Any] = {"RetentionPeriodInDays": spec.retention_days}
    if spec.execution_timeout_s:
        durable["ExecutionTimeout"] = int(spec.execution_timeout_s)
    out: dict[str, Any] = {
        "FunctionName": spec.name,
        "FunctionArn": function_arn(spec.name) if qualifier == LATEST else qualified_arn(spec.name, qualifier),
        "Runtime": spec.runtime or f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Role": f"arn:aws:iam::000000000000:role/perdure-{spec.name}",
        "Handler": spec.handler,
        "CodeSize": version.code_size if version else 0,
        "CodeSha256": version.code_sha256 if version else "",
        "Description": (version.description if version and version.description else spec.description),
        "Timeout": int(spec.timeout_s),
        "MemorySize": spec.memory_mb,
        "LastModified": _timestamp(version.created_ms if version else None),
        "Version": qualifier,
        "Environment": {"Variables": dict(spec.environment)},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["arm64" if platform.machine() in ("arm64", "aarch64") else "x86_64"],
        "LoggingConfig": {"LogFormat": spec.log_format, "LogGroup": spec.log_group_name},
        "LogicalId": spec.logical_id,  # perdure: the template's resource id, which also names it
    }
    if spec.durable:
        out["DurableConfig"] = durable
    return out


def alias_configuration(row: AliasRow) -> dict[str, Any]:
    return {
        "AliasArn": qualified_arn(row.function_name, row.alias),
        "Name": row.alias,
        "FunctionVersion": str(row.version),
        "Description": row.description,
        "RevisionId": f"{row.updated_ms:x}",
    }


def _page(items: list[Any], marker: str | None, max_items: str | None) -> tuple[list[Any], str | None]:
    start = 0
    if marker:
        if not marker.isdigit():
            raise InvalidParameterValue(f"Invalid Marker {marker!r}")
        start = int(marker)
    limit = 50
    if max_items:
        if not max_items.isdigit() or not 1 <= int(max_items) <= 10000:
            raise InvalidParameterValue("MaxItems must be between 1 and 10000")
        limit = int(max_items)
    page = items[start : start + limit]
    return page, str(start + limit) if start + limit < len(items) else None


class FunctionsApi:
    """Route handlers for functions, versions and aliases."""

    def __init__(self, runtime: Runtime, read_json: JsonReader, run: Runner) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.versions = runtime.engine.versions
        self._json = read_json
        self._run = run

    def routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        return [
            ("GET", re.compile(_PREFIX + r"/?$"), self.list_functions),
            ("GET", re.compile(rf"{_PREFIX}/{_ID}/configuration$"), self.get_configuration),
            ("GET", re.compile(rf"{_PREFIX}/{_ID}/versions$"), self.list_versions),
            ("POST", re.compile(rf"{_PREFIX}/{_ID}/versions$"), self.publish_version),
            ("GET", re.compile(rf"{_PREFIX}/{_ID}/aliases$"), self.list_aliases),
            ("POST", re.compile(rf"{_PREFIX}/{_ID}/aliases$"), self.create_alias),
            ("GET", re.compile(rf"{_PREFIX}/{_ID}/aliases/(?P<op>[^/]+)$"), self.get_alias),
            ("PUT", re.compile(rf"{_PREFIX}/{_ID}/aliases/(?P<op>[^/]+)$"), self.update_alias),
            ("GET", re.compile(rf"{_PREFIX}/{_ID}$"), self.get_function),
        ]

    # -- reading (one transaction each, on a worker thread) ------------------------

    def _function(self, tx: Transaction, name_or_arn: str) -> str:
        try:
            name, _ = parse_qualified_name(name_or_arn)
        except ValueError as exc:
            raise InvalidParameterValue(str(exc)) from None
        function = self.versions.function_name(tx, name)
        if function is None:
            raise ResourceNotFound(f"Function not found: {function_arn(name)}")
        return function

    def _latest_configuration(self, tx: Transaction, function: str) -> dict[str, Any]:
        latest = tx.latest_version(function)
        spec = self.versions.spec(tx, function, latest.version) if latest else self.versions.functions.get(function)
        assert spec is not None
        return configuration(spec, latest, LATEST)

    def _configuration(self, name: str, qualifier: str | None) -> dict[str, Any]:
        with self.engine.store.read() as tx:
            function = self._function(tx, name)
            qualifier = qualifier or parse_qualified_name(name)[1]
            if qualifier is None or qualifier == LATEST:
                return self._latest_configuration(tx, function)
            target = self.versions.resolve(tx, f"{function}:{qualifier}")
            if target.version is None:  # pragma: no cover - a qualifier always names a version
                return self._latest_configuration(tx, function)
            row = tx.get_version(function, target.version)
            return configuration(target.spec, row, str(target.version))

    def _list_functions(self, all_versions: bool) -> list[dict[str, Any]]:
        with self.engine.store.read() as tx:
            names = sorted(set(self.versions.functions) | set(tx.versioned_functions()))
            out = []
            for function in names:
                out.append(self._latest_configuration(tx, function))
                if all_versions:
                    out.extend(self._version_configurations(tx, function))
            return out

    def _version_configurations(self, tx: Transaction, function: str) -> list[dict[str, Any]]:
        out = []
        for row in tx.list_versions(function):
            spec = self.versions.spec(tx, function, row.version)
            assert spec is not None
            out.append(configuration(spec, row, str(row.version)))
        return out

    def _list_versions(self, name: str) -> list[dict[str, Any]]:
        with self.engine.store.read() as tx:
            function = self._function(tx, name)
            return [self._latest_configuration(tx, function), *self._version_configurations(tx, function)]

    def _publish(self, name: str, code_sha: str | None, description: str) -> dict[str, Any]:
        with self.engine.store.read() as tx:
            function = self._function(tx, name)
        spec = self.versions.functions.get(function)
        if spec is None:
            raise InvalidParameterValue(
                f"{function} is not in the template this server serves: publish it with "
                "perdure deploy -t TEMPLATE"
            )
        if code_sha:
            try:
                current = take_snapshot(spec).code_sha256
            except SnapshotError as exc:
                raise InvalidParameterValue(str(exc)) from None
            if current != code_sha:
                raise InvalidParameterValue(
                    f"CodeSha256 {code_sha} does not match the function's code ({current})"
                )
        try:
            row, _ = publish(self.engine.store, spec, description, self.engine.clock)
        except SnapshotError as exc:
            raise InvalidParameterValue(str(exc)) from None
        with self.engine.store.read() as tx:
            version_spec = self.versions.spec(tx, function, row.version)
        assert version_spec is not None
        return configuration(version_spec, row, str(row.version))

    def _aliases(self, name: str, version: str | None) -> list[dict[str, Any]]:
        with self.engine.store.read() as tx:
            function = self._function(tx, name)
            rows = tx.list_aliases(function)
        return [alias_configuration(r) for r in rows if version is None or str(r.version) == version]

    def _get_alias(self, name: str, alias: str) -> dict[str, Any]:
        with self.engine.store.read() as tx:
            function = self._function(tx, name)
            row = tx.get_alias(function, alias)
        if row is None:
            raise ResourceNotFound(f"Alias not found: {qualified_arn(function, alias)}")
        return alias_configuration(row)

    def _set_alias(self, name: str, alias: str, data: dict[str, Any], create: bool) -> dict[str, Any]:
        with self.engine.store.read() as tx:
            function = self._function(tx, name)
            current = tx.get_alias(function, alias)
        version = data.get("FunctionVersion")
        if version is None and current is not None:
            version = str(current.version)
        if not isinstance(version, str) or not version:
            raise InvalidParameterValue("FunctionVersion is required (a version number or $LATEST)")
        if data.get("RoutingConfig"):
            raise InvalidParameterValue("RoutingConfig (weighted aliases) is not supported by perdure")
        description = data.get("Description")
        if description is not None and not isinstance(description, str):
            raise InvalidParameterValue("Description must be a string")
        row = set_alias(self.engine.store, function, alias, version, description, create=create, clock=self.engine.clock)
        return alias_configuration(row)

    # -- handlers ------------------------------------------------------------------

    async def list_functions(self, request: Request, _id: str, _op: str) -> Response:
        params = request.query_params
        every = params.get("FunctionVersion") == "ALL"
        functions = await self._run(self._list_functions, every)
        page, marker = _page(functions, params.get("Marker"), params.get("MaxItems"))
        out: dict[str, Any] = {"Functions": page}
        if marker:
            out["NextMarker"] = marker
        return JSONResponse(out)

    async def get_function(self, request: Request, name: str, _op: str) -> Response:
        config = await self._run(self._configuration, name, request.query_params.get("Qualifier"))
        return JSONResponse({
            "Configuration": config,
            "Code": {"RepositoryType": "perdure", "Location": "stored in the perdure database"},
        })

    async def get_configuration(self, request: Request, name: str, _op: str) -> Response:
        return JSONResponse(await self._run(self._configuration, name, request.query_params.get("Qualifier")))

    async def list_versions(self, request: Request, name: str, _op: str) -> Response:
        versions = await self._run(self._list_versions, name)
        page, marker = _page(versions, request.query_params.get("Marker"), request.query_params.get("MaxItems"))
        out: dict[str, Any] = {"Versions": page}
        if marker:
            out["NextMarker"] = marker
        return JSONResponse(out)

    async def publish_version(self, request: Request, name: str, _op: str) -> Response:
        data = await self._json(request, "PublishVersion")
        description = data.get("Description") or ""
        if not isinstance(description, str):
            raise InvalidParameterValue("Description must be a string")
        code_sha = data.get("CodeSha256")
        config = await self._run(self._publish, name, code_sha if isinstance(code_sha, str) else None, description)
        return JSONResponse(config, status_code=201)

    async def list_aliases(self, request: Request, name: str, _op: str) -> Response:
        aliases = await self._run(self._aliases, name, request.query_params.get("FunctionVersion"))
        page, marker = _page(aliases, request.query_params.get("Marker"), request.query_params.get("MaxItems"))
        out: dict[str, Any] = {"Aliases": page}
        if marker:
            out["NextMarker"] = marker
        return JSONResponse(out)

    async def get_alias(self, request: Request, name: str, alias: str) -> Response:
        return JSONResponse(await self._run(self._get_alias, name, alias))

    async def create_alias(self, request: Request, name: str, _op: str) -> Response:
        data = await self._json(request, "CreateAlias")
        alias = data.get("Name")
        if not isinstance(alias, str) or not alias:
            raise InvalidParameterValue("Name is required")
        return JSONResponse(await self._run(self._set_alias, name, alias, data, True), status_code=201)

    async def update_alias(self, request: Request, name: str, alias: str) -> Response:
        data = await self._json(request, "UpdateAlias")
        return JSONResponse(await self._run(self._set_alias, name, alias, data, False))
