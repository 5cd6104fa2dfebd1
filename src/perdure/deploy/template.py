"""Read the functions to serve from a SAM or CloudFormation template, as AWS reads it.

A function answers to its ``FunctionName`` (``!Sub "${Prefix}Orders"`` included) and
to its logical id. Interpreted properties: ``Handler``, ``CodeUri`` (or ``Code``: a
local path, or CDK's asset directory from ``Metadata: aws:asset:path``), ``Timeout``,
``Environment``, ``DurableConfig``, ``LoggingConfig``, ``AutoPublishAlias``,
``Layers`` that are local layer resources (``ContentUri``), ``Description``,
``MemorySize``, ``Runtime`` (Python, ``nodejs22.x``/``nodejs24.x`` and ``provided.*``;
a function with any other is refused, logged, and the others are served) and the
resource's ``Metadata: {BuildMethod: esbuild}`` (``perdure.deploy.esbuild``). The rest
(``Role``, ``Architectures``, ``Events``...) is named in one info line per function and
may hold anything, short-form intrinsic tags included.

Intrinsic functions are evaluated by ``perdure.deploy.intrinsics``: a ``!Ref``/``!GetAtt`` to a
resource perdure does not run resolves to the name the template gives it (or its
logical id) with one warning per reference. A property that cannot be resolved makes
its function unservable; the other functions are still served (the error is logged),
and only when no function is left does loading fail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from perdure.deploy.arns import DEFAULT_ACCOUNT, DEFAULT_REGION, function_arn, parse_function_name
from perdure.deploy.esbuild import BuildError, build
from perdure.deploy.functions import (
    CUSTOM_RUNTIMES,
    DEFAULT_MEMORY_MB,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_TIMEOUT_S,
    MAX_EXECUTION_TIMEOUT_S,
    NODE_RUNTIMES,
    FunctionSpec,
)
from perdure.deploy.intrinsics import (
    LAMBDA_FUNCTION,
    NO_VALUE,
    SERVERLESS_FUNCTION,
    STACK_NAME,
    Resolver,
    Unresolvable,
    describe,
    intrinsic,
    scalar_text,
)
from perdure.deploy.node_toolchain import NodeUnavailable, find_node
from perdure.deploy.template_yaml import TemplateError, parse_document

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "STACK_NAME",
    "TemplateError",
    "function_arn",
    "load_template",
    "parse_function_name",
]

log = logging.getLogger(__name__)

MAX_TIMEOUT_S: Final = 900
MAX_RETENTION_DAYS: Final = 90
LOG_FORMATS: Final = ("Text", "JSON")
LAYER_TYPES: Final = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
# Properties perdure reads; any other is listed once in an info line.
READ_PROPERTIES: Final = frozenset({
    "Handler", "CodeUri", "Code", "Timeout", "Environment", "DurableConfig", "Runtime",
    "FunctionName", "LoggingConfig", "AutoPublishAlias", "Layers", "Description",
    "InlineCode", "PackageType", "ImageUri", "MemorySize",
})
RUNS: Final = "perdure runs Python (python3.x), Node.js (" + ", ".join(NODE_RUNTIMES) + ") and custom runtimes (" + ", ".join(CUSTOM_RUNTIMES) + ")"


# --------------------------------------------------------------------------- loading


def _deep_merge(base: Any, override: Any) -> Any:
    """SAM Globals merge: mappings merge key by key, anything else is replaced."""
    if (
        isinstance(base, dict)
        and isinstance(override, dict)
        and intrinsic(base) is None
        and intrinsic(override) is None
    ):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return override


def _parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, str], where: str
) -> tuple[dict[str, Any], frozenset[str]]:
    """(values, names of parameters with neither a Default nor an override)."""
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise TemplateError(f"{where}: Parameters must be a mapping")
    values: dict[str, Any] = {}
    missing: set[str] = set()
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            raise TemplateError(f"{where}: parameter {name}: must be a mapping")
        param_type = str(spec.get("Type", "String"))
        if name in overrides:
            value: Any = overrides[name]
        elif param_type.startswith("AWS::SSM::"):
            continue  # its default names an SSM parameter, whose value only AWS knows
        elif "Default" in spec:
            value = spec["Default"]
        else:
            missing.add(str(name))  # a Ref to it, where perdure reads it, is an error
            continue
        if param_type.startswith("List<") or param_type == "CommaDelimitedList":
            if isinstance(value, str):
                value = [item.strip() for item in value.split(",")]
        elif not isinstance(value, list):
            value = scalar_text(value)
        values[name] = value
    for name in overrides:
        if name not in declared:
            raise TemplateError(f"{where}: parameter override {name!r} is not a template parameter")
    return values, frozenset(missing)


class _FunctionReader:
    def __init__(
        self, where: str, template_dir: Path, logical_id: str, resolver: Resolver
    ) -> None:
        self.where = where
        self.template_dir = template_dir
        self.logical_id = logical_id
        self.resolver = resolver

    def error(self, prop: str, problem: str) -> TemplateError:
        return TemplateError(f"{self.where}: resource {self.logical_id}: {prop} {problem}")

    def resolve(self, prop: str, value: Any) -> Any:
        try:
            return self.resolver.resolve(value)
        except Unresolvable as exc:
            raise self.error(prop, f"cannot be resolved: {exc}") from None
        finally:
            self.report_guesses(prop)

    def report_guesses(self, prop: str) -> None:
        for guess in self.resolver.take_guesses():
            log.warning(
                "%s: resource %s: %s: %s; give it another value with --env-vars",
                self.where, self.logical_id, prop, guess,
            )

    def number(self, prop: str, value: Any, low: int, high: int, *, integer: bool) -> float:
        value = self.resolve(prop, value)
        number: float
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.error(prop, f"must be a number, got {describe(value)}")
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise self.error(prop, f"must be a number, got {value!r}") from None
        else:
            number = float(value)
        if integer and not number.is_integer():
            raise self.error(prop, f"must be a whole number, got {value!r}")
        if not low <= number <= high:
            raise self.error(prop, f"must be between {low} and {high}, got {value!r}")
        return number

    def handler(self, props: Mapping[str, Any], runtime: str | None = None) -> str:
        if runtime in CUSTOM_RUNTIMES and "Handler" not in props:
            return "bootstrap"  # a custom runtime's bootstrap reads _HANDLER if it wants one
        if "Handler" not in props:
            raise self.error("Handler", "is required (module.function)")
        value = self.resolve("Handler", props["Handler"])
        if not isinstance(value, str) or not value.strip():
            raise self.error("Handler", f"must be a string like module.function, got {value!r}")
        if runtime is not None and not runtime.startswith("python"):
            # Node's runtime interface client resolves path/file.export itself.
            if runtime in NODE_RUNTIMES and "." not in value.strip().rsplit("/", 1)[-1]:
                raise self.error("Handler", f"must look like file.export (path/file.export), got {value!r}")
            return value.strip()
        handler = value.strip().replace("/", ".")
        try:
            FunctionSpec(name=self.logical_id, handler=handler).module_and_attr  # noqa: B018
        except ValueError:
            raise self.error("Handler", f"must look like module.function, got {value!r}") from None
        return handler

    def code_dir(self, prop: str, value: Any) -> Path:
        if value is None:
            return self.template_dir
        value = self.resolve(prop, value)
        if isinstance(value, dict):
            raise self.error(
                prop,
                "points at S3 (a Bucket/Key mapping); perdure runs local code only: "
                "set it to a directory relative to the template",
            )
        if not isinstance(value, str) or not value.strip():
            raise self.error(prop, f"must be a directory path, got {describe(value)}")
        if value.startswith("s3://"):
            raise self.error(
                prop,
                f"points at S3 ({value}); perdure runs local code only: "
                "set it to a directory relative to the template",
            )
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.template_dir / path
        path = path.resolve()
        if path.is_dir() or (path.is_file() and path.suffix == ".zip"):
            return path
        if path.exists():
            raise self.error(prop, f"must be a directory or a .zip file, got {value!r}")
        raise self.error(prop, f"directory {value!r} does not exist (looked for {path})")

    def environment(self, props: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
        env = props.get("Environment")
        variables: Any = {}
        if env is not None:
            if not isinstance(env, dict):
                raise self.error("Environment", f"must be a mapping, got {describe(env)}")
            variables = env.get("Variables", {})
            if variables is None:
                variables = {}
            if not isinstance(variables, dict) or intrinsic(variables) is not None:
                raise self.error(
                    "Environment.Variables", f"must be a mapping, got {describe(variables)}"
                )
        result: dict[str, str] = {}
        for key, raw in variables.items():
            prop = f"Environment.Variables.{key}"
            if key in overrides:
                result[str(key)] = overrides[key]
                continue
            if raw is None:
                result[str(key)] = ""
                continue
            try:
                value = self.resolver.resolve(raw)
            except Unresolvable as exc:
                raise self.error(
                    prop,
                    f"cannot be resolved: {exc} (give it a local value with an env "
                    "override: perdure serve --env-vars FILE)",
                ) from None
            finally:
                self.report_guesses(prop)
            if value is NO_VALUE:
                continue
            if isinstance(value, dict | list):
                raise self.error(prop, f"must be a string, got {describe(value)}")
            result[str(key)] = scalar_text(value)
        for key, value in overrides.items():
            result.setdefault(key, value)
        return result

    def durable(self, props: Mapping[str, Any]) -> tuple[bool, float | None, int]:
        if "DurableConfig" not in props:
            return False, None, DEFAULT_RETENTION_DAYS
        config = self.resolve("DurableConfig", props["DurableConfig"])
        if config is None or config is NO_VALUE:
            config = {}
        if not isinstance(config, dict):
            raise self.error("DurableConfig", f"must be a mapping, got {describe(config)}")
        execution_timeout: float | None = None
        if config.get("ExecutionTimeout") is not None:
            execution_timeout = self.number(
                "DurableConfig.ExecutionTimeout",
                config["ExecutionTimeout"],
                1,
                MAX_EXECUTION_TIMEOUT_S,
                integer=False,
            )
        retention = DEFAULT_RETENTION_DAYS
        if config.get("RetentionPeriodInDays") is not None:
            retention = int(
                self.number(
                    "DurableConfig.RetentionPeriodInDays",
                    config["RetentionPeriodInDays"],
                    1,
                    MAX_RETENTION_DAYS,
                    integer=True,
                )
            )
        return True, execution_timeout, retention


    def name(self, props: Mapping[str, Any]) -> str:
        if props.get("FunctionName") is None:
            return self.logical_id
        value = self.resolve("FunctionName", props["FunctionName"])
        if not isinstance(value, str) or not value.strip():
            raise self.error("FunctionName", f"must be a string, got {describe(value)}")
        try:
            if parse_function_name(value) != value:
                raise ValueError
        except ValueError:
            raise self.error(
                "FunctionName", f"{value!r} is not a valid function name ([A-Za-z0-9_-]+)"
            ) from None
        return value

    def text(self, prop: str, value: Any) -> str:
        value = self.resolve(prop, value)
        if isinstance(value, dict | list) or value is NO_VALUE:
            raise self.error(prop, f"must be a string, got {describe(value)}")
        return scalar_text(value)

    def logging_config(self, props: Mapping[str, Any]) -> tuple[str | None, str]:
        config = props.get("LoggingConfig")
        if config is None:
            return None, "Text"
        config = self.resolve("LoggingConfig", config)
        if not isinstance(config, dict):
            raise self.error("LoggingConfig", f"must be a mapping, got {describe(config)}")
        group = None
        if config.get("LogGroup") is not None:
            group = self.text("LoggingConfig.LogGroup", config["LogGroup"])
        log_format = "Text"
        if config.get("LogFormat") is not None:
            log_format = self.text("LoggingConfig.LogFormat", config["LogFormat"])
            if log_format not in LOG_FORMATS:
                raise self.error(
                    "LoggingConfig.LogFormat", f"must be Text or JSON, got {log_format!r}"
                )
        return group, log_format

    def layers(self, props: Mapping[str, Any], resources: Mapping[str, Any]) -> tuple[Path, ...]:
        """Local layers: ``!Ref`` to a layer resource of this template whose content is a
        local directory. Layer ARNs (published layers) are left out, with an info line."""
        value = props.get("Layers")
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error("Layers", f"must be a list, got {describe(value)}")
        found: list[Path] = []
        for index, item in enumerate(value):
            prop = f"Layers[{index}]"
            ref = item.get("Ref") if isinstance(item, dict) and len(item) == 1 else None
            layer = resources.get(ref) if isinstance(ref, str) else None
            if isinstance(layer, dict) and layer.get("Type") in LAYER_TYPES:
                layer_props = layer.get("Properties") or {}
                content = layer_props.get("ContentUri", layer_props.get("Content"))
                if isinstance(content, dict) and "S3Bucket" in content:
                    content = _asset_path(layer)
                found.append(self.code_dir(f"{prop} ({ref}.ContentUri)", content))
                continue
            try:
                shown = self.resolver.resolve(item)
            except Unresolvable:
                shown = describe(item)
            finally:
                self.resolver.take_guesses()
            log.info(
                "%s: resource %s: %s: %s is not a local layer of this template; perdure "
                "leaves it out (install what it provides where perdure runs)",
                self.where, self.logical_id, prop, shown,
            )
        return tuple(found)

    def description(self, props: Mapping[str, Any]) -> str:
        if props.get("Description") is None:
            return ""
        try:
            return self.text("Description", props["Description"])
        except TemplateError:
            return ""  # only shown in listings: not worth refusing the function


def _asset_path(resource: Mapping[str, Any]) -> str | None:
    """The local directory CDK recorded for a resource's code (``aws:asset:path``)."""
    metadata = resource.get("Metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("aws:asset:path"), str):
        return str(metadata["aws:asset:path"])
    return None


def _condition_holds(resolver: Resolver, name: str) -> bool:
    """A resource's Condition; one perdure cannot evaluate counts as true."""
    try:
        return resolver.condition(name)
    except Unresolvable:
        return True


def _runtime(reader: _FunctionReader, props: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(the function's Runtime, why perdure cannot run it)."""
    if props.get("PackageType") == "Image" or "ImageUri" in props:
        return None, "it is a container image function (perdure runs code from a local directory)"
    runtime = props.get("Runtime")
    if runtime is None:
        return None, None
    try:
        runtime = reader.resolver.resolve(runtime)
    except Unresolvable:
        return None, None
    if not isinstance(runtime, str):
        return None, None
    if runtime.startswith("python") or runtime in NODE_RUNTIMES or runtime in CUSTOM_RUNTIMES:
        return runtime, None
    if runtime.startswith("nodejs"):
        return None, (
            f"its Runtime is {runtime}; durable functions run on {' or '.join(NODE_RUNTIMES)}: "
            "set Runtime: nodejs24.x"
        )
    return None, f"its Runtime is {runtime}; {RUNS}"


def _built_code(
    reader: _FunctionReader, resource: Mapping[str, Any], runtime: str | None, code_uri: Path,
    builds: dict[str, Path],
) -> tuple[Path, bool]:
    """The directory a function runs from: its CodeUri, or its esbuild bundle (and whether
    the bundle has source maps)."""
    metadata = resource.get("Metadata")
    method = metadata.get("BuildMethod") if isinstance(metadata, dict) else None
    if method is None:
        return code_uri, False
    if method != "esbuild":
        log.info("%s: resource %s: BuildMethod %s is not run by perdure; it serves CodeUri as it is",
                 reader.where, reader.logical_id, method)
        return code_uri, False
    if runtime not in NODE_RUNTIMES:
        raise reader.error("Metadata.BuildMethod", f"esbuild builds Node functions; this one's Runtime is {runtime}")
    properties = metadata.get("BuildProperties") or {}  # type: ignore[union-attr]
    if not isinstance(properties, dict):
        raise reader.error("Metadata.BuildProperties", "must be a mapping")
    sourcemap = str(properties.get("Sourcemap", "")).lower() == "true"
    key = repr((code_uri, sorted(properties.items(), key=str)))
    if key not in builds:
        try:
            builds[key] = build(code_uri, properties, reader.template_dir, find_node())
        except (BuildError, NodeUnavailable) as exc:
            raise reader.error("Metadata (esbuild)", str(exc)) from None
    return builds[key], sourcemap


def load_template(
    path: str | Path,
    *,
    parameter_overrides: Mapping[str, str] | None = None,
    env_overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, FunctionSpec]:
    """The functions of a SAM/CloudFormation template, by name (``FunctionName``, else
    the logical id; each spec's ``logical_id`` keeps the other).

    ``parameter_overrides`` replaces parameter defaults (``{"Stage": "dev"}``).
    ``env_overrides`` sets environment variables per function (``{"Fn": {"K": "v"}}``
    by logical id or name; the key ``"*"`` applies to every function); an overridden
    variable is not resolved, so the template may hold an intrinsic there that perdure
    cannot evaluate. Functions with a non-Python ``Runtime`` or a container image are
    skipped (logged). A function that cannot be served is left out with its error
    logged; ``TemplateError`` is raised when the template itself is unusable or no
    function is left.
    """
    template_path = Path(path)
    where = str(path)
    try:
        text = template_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TemplateError(f"{where}: template file not found") from None
    except IsADirectoryError:
        raise TemplateError(f"{where}: is a directory, not a template file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{where}: cannot read template: {exc}") from exc

    template = parse_document(text, where)
    if not isinstance(template, dict):
        raise TemplateError(f"{where}: not a template (expected a mapping with Resources)")
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError(f"{where}: no Resources section (a template needs Resources)")

    parameters, missing = _parameter_values(template, parameter_overrides or {}, where)
    resolver = Resolver(template, parameters, missing)
    globals_section = template.get("Globals") or {}
    function_globals: Any = (
        globals_section.get("Function", {}) if isinstance(globals_section, dict) else {}
    )
    if function_globals is None:
        function_globals = {}
    if not isinstance(function_globals, dict):
        raise TemplateError(f"{where}: Globals.Function must be a mapping")

    template_dir = template_path.resolve().parent
    functions: dict[str, FunctionSpec] = {}
    builds: dict[str, Path] = {}  # functions with the same sources and build properties share a build
    skipped: list[str] = []
    errors: list[TemplateError] = []
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        if kind not in (SERVERLESS_FUNCTION, LAMBDA_FUNCTION):
            continue
        condition = resource.get("Condition")
        if isinstance(condition, str) and not _condition_holds(resolver, condition):
            log.info(
                "%s: skipping resource %s: condition %s is false", where, logical_id, condition
            )
            continue
        reader = _FunctionReader(where, template_dir, str(logical_id), resolver)
        try:
            spec = _read_function(reader, resource, function_globals, env_overrides or {}, builds)
        except TemplateError as exc:
            errors.append(exc)
            continue
        if isinstance(spec, str):
            skipped.append(f"{logical_id} ({spec})")
            continue
        if spec.name in functions:
            other = functions[spec.name].logical_id
            errors.append(reader.error(
                "FunctionName", f"{spec.name!r} is also the name of resource {other}"
            ))
            continue
        functions[spec.name] = spec

    if errors and not functions:
        if len(errors) == 1:
            raise errors[0]
        raise TemplateError("no function can be served:\n" + "\n".join(map(str, errors)))
    for error in errors:
        log.error("%s (the other functions are served)", error)
    if not functions:
        detail = f"; skipped: {', '.join(skipped)}" if skipped else ""
        raise TemplateError(
            f"{where}: no functions to serve (no {SERVERLESS_FUNCTION} or "
            f"{LAMBDA_FUNCTION} resources{detail})"
        )
    return functions


def _read_function(
    reader: _FunctionReader,
    resource: Mapping[str, Any],
    function_globals: Mapping[str, Any],
    env_overrides: Mapping[str, Mapping[str, str]],
    builds: dict[str, Path],
) -> FunctionSpec | str:
    """One function resource, or why perdure cannot run it (its Runtime)."""
    logical_id = reader.logical_id
    kind = resource.get("Type")
    props = resource.get("Properties") or {}
    if not isinstance(props, dict):
        raise reader.error("Properties", "must be a mapping")
    if kind == SERVERLESS_FUNCTION:
        props = _deep_merge(function_globals, props)
    runtime, reason = _runtime(reader, props)
    if reason is not None:
        log.warning("%s: not serving function %s: %s", reader.where, logical_id, reason)
        return reason

    if kind == SERVERLESS_FUNCTION:
        if "InlineCode" in props and "CodeUri" not in props:
            raise reader.error("InlineCode", "is not supported: put the code in a CodeUri directory")
        code_uri = reader.code_dir("CodeUri", props.get("CodeUri"))
    else:
        code = props.get("Code")
        if isinstance(code, dict) and "ZipFile" in code:
            raise reader.error("Code.ZipFile", "(inline code) is not supported: use a local directory")
        if isinstance(code, dict) and "S3Bucket" in code and _asset_path(resource) is not None:
            code = _asset_path(resource)  # CDK: the asset's local directory
        code_uri = reader.code_dir("Code", code)

    source_dir = code_uri
    code_uri, source_maps = _built_code(reader, resource, runtime, code_uri, builds)
    name = reader.name(props)
    handler = reader.handler(props, runtime)
    memory = DEFAULT_MEMORY_MB
    if props.get("MemorySize") is not None:
        memory = int(reader.number("MemorySize", props["MemorySize"], 128, 10240, integer=True))
    timeout = DEFAULT_TIMEOUT_S
    if props.get("Timeout") is not None:
        timeout = reader.number("Timeout", props["Timeout"], 1, MAX_TIMEOUT_S, integer=False)
    env_override = {
        **env_overrides.get("*", {}),
        **env_overrides.get(name, {}),
        **env_overrides.get(logical_id, {}),
    }
    environment = reader.environment(props, env_override)
    durable, execution_timeout, retention = reader.durable(props)
    log_group, log_format = reader.logging_config(props)
    alias = None
    if props.get("AutoPublishAlias") is not None:
        alias = reader.text("AutoPublishAlias", props["AutoPublishAlias"])
        if not alias or alias.isdigit() or alias == "$LATEST":
            raise reader.error("AutoPublishAlias", f"must be an alias name, got {alias!r}")
    layers = reader.layers(props, reader.resolver.resources)
    ignored = sorted(str(key) for key in props if key not in READ_PROPERTIES)
    if ignored:
        log.info(
            "%s: resource %s: not used by perdure: %s", reader.where, logical_id, ", ".join(ignored)
        )
    return FunctionSpec(
        name=name,
        handler=handler,
        code_uri=code_uri,
        timeout_s=timeout,
        environment=environment,
        durable=durable,
        execution_timeout_s=execution_timeout,
        retention_days=retention,
        logical_id=logical_id,
        layers=layers,
        log_group=log_group,
        log_format=log_format,
        auto_publish_alias=alias,
        description=reader.description(props),
        runtime=None if runtime is None or runtime.startswith("python") else runtime,
        memory_mb=memory,
        source_maps=source_maps,
        build_source=source_dir if code_uri != source_dir else None,
    )
