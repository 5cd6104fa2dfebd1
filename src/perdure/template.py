"""Read the functions to serve from a SAM or CloudFormation template.

Only the properties perdure needs are interpreted (``Handler``, ``CodeUri``,
``Timeout``, ``Environment``, ``DurableConfig``, ``Runtime``); everything else in the
template may hold anything, short-form intrinsic tags included.

Intrinsic functions in the interpreted properties are resolved against a fixed local
"account": region ``us-east-1``, account ``000000000000``, stack ``perdure``.
``!Ref Function`` is the function's name (its logical id), ``!GetAtt Function.Arn`` its
ARN, ``!Ref Parameter`` the parameter's default (or an override). Anything else
(a table name, a queue URL...) cannot be known locally and is reported as an error
naming the resource and the property; ``env_overrides`` sets such variables instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from perdure.functions import DEFAULT_RETENTION_DAYS, DEFAULT_TIMEOUT_S, FunctionSpec

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

DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT: Final = "000000000000"
STACK_NAME: Final = "perdure"

SERVERLESS_FUNCTION: Final = "AWS::Serverless::Function"
LAMBDA_FUNCTION: Final = "AWS::Lambda::Function"

MAX_TIMEOUT_S: Final = 900
MAX_EXECUTION_TIMEOUT_S: Final = 31_622_400  # 366 days
MAX_RETENTION_DAYS: Final = 90


class TemplateError(ValueError):
    """A template that cannot be served; the message names file, resource and property."""


# --------------------------------------------------------------------------- ARNs

_NAME_RE = r"[A-Za-z0-9_-]+"
_QUALIFIER_RE = r"(?::[A-Za-z0-9$_.-]+)?"
_FULL_ARN_RE = re.compile(
    rf"^arn:[A-Za-z0-9-]+:lambda:[A-Za-z0-9-]+:\d{{12}}:function:(?P<name>{_NAME_RE}){_QUALIFIER_RE}$"
)
_PARTIAL_ARN_RE = re.compile(rf"^\d{{12}}:function:(?P<name>{_NAME_RE}){_QUALIFIER_RE}$")
_PLAIN_NAME_RE = re.compile(rf"^(?P<name>{_NAME_RE}){_QUALIFIER_RE}$")


def function_arn(name: str, region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT) -> str:
    """The unqualified ARN of function ``name``."""
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def parse_function_name(name_or_arn: str) -> str:
    """The bare function name in a name, a (qualified) full ARN or a partial ARN.

    Accepts ``Name``, ``Name:alias``, ``arn:aws:lambda:REGION:ACCOUNT:function:Name``,
    the same with ``:$LATEST`` / ``:3`` / ``:alias`` appended,
    ``ACCOUNT:function:Name[:qualifier]``, and a durable execution ARN
    (``...:function:Name:$LATEST/durable-execution/...``). Raises ``ValueError`` for
    anything else.
    """
    text = name_or_arn.strip()
    if "/durable-execution/" in text:
        text = text.split("/", 1)[0]
    for pattern in (_FULL_ARN_RE, _PARTIAL_ARN_RE, _PLAIN_NAME_RE):
        match = pattern.match(text)
        if match:
            return match.group("name")
    raise ValueError(
        f"{name_or_arn!r} is not a function name or ARN "
        "(expected Name, ACCOUNT:function:Name or arn:aws:lambda:REGION:ACCOUNT:function:Name)"
    )


# --------------------------------------------------------------------------- YAML

# Short-form tag -> long-form key. !Ref and !Condition have no "Fn::" prefix.
_SHORT_TAGS: Final = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "GetAtt",
            "Sub",
            "Join",
            "If",
            "Select",
            "Split",
            "FindInMap",
            "ImportValue",
            "Base64",
            "Equals",
            "Not",
            "And",
            "Or",
            "GetAZs",
            "Cidr",
            "Length",
            "ToJsonString",
            "Transform",
            "ForEach",
        )
    },
}

_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into long-form dicts.

    Dates stay strings (``AWSTemplateFormatVersion: 2010-09-09`` unquoted is common).
    """


_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(  # pragma: no cover - yaml has no other nodes
        None, None, f"unexpected node {node!r}", node.start_mark
    )


def _short_tag_constructor(key: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        value = _node_value(loader, node)
        if key == "Fn::GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
        return {key: value}

    return construct


def _unknown_tag_constructor(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    # Any other local tag (a tool's own, a future intrinsic): keep it as {"!Tag": value}
    # so properties perdure does not read can hold it.
    return {f"!{suffix}": _node_value(loader, node)}


for _tag, _key in _SHORT_TAGS.items():
    _CfnLoader.add_constructor(f"!{_tag}", _short_tag_constructor(_key))
_CfnLoader.add_multi_constructor("!", _unknown_tag_constructor)


def _parse_document(text: str, where: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # maybe YAML flow style; let the YAML parser report
    try:
        return yaml.load(text, Loader=_CfnLoader)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise TemplateError(f"{where}: not valid YAML or JSON: {detail}") from exc


# --------------------------------------------------------------------------- resolution

_NO_VALUE: Final = object()  # AWS::NoValue


class _Unresolvable(Exception):
    """An intrinsic function whose value cannot be known locally."""


_PSEUDO_PARAMETERS: Final[dict[str, Any]] = {
    "AWS::Region": DEFAULT_REGION,
    "AWS::AccountId": DEFAULT_ACCOUNT,
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": (
        f"arn:aws:cloudformation:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:stack/{STACK_NAME}/"
        "00000000-0000-0000-0000-000000000000"
    ),
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}

_SUB_VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")


def _intrinsic(value: Any) -> tuple[str, Any] | None:
    """(key, argument) when ``value`` is a one-key intrinsic function dict."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if isinstance(key, str) and (
            key in ("Ref", "Condition") or key.startswith("Fn::") or key.startswith("!")
        ):
            return key, arg
    return None


def _scalar_text(value: Any) -> str:
    """CloudFormation's string form of a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise _Unresolvable(f"expected a string, got {_describe(value)}")


def _describe(value: Any) -> str:
    intrinsic = _intrinsic(value)
    if intrinsic is not None:
        return f"{{{intrinsic[0]}: {json.dumps(intrinsic[1], default=str)}}}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class _Resolver:
    """Evaluates the intrinsic functions whose value is knowable without AWS."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
        resources = template.get("Resources")
        self.resources: Mapping[str, Any] = resources if isinstance(resources, dict) else {}
        self.parameters = parameters
        mappings = template.get("Mappings")
        self.mappings: Mapping[str, Any] = mappings if isinstance(mappings, dict) else {}
        conditions = template.get("Conditions")
        self.conditions: Mapping[str, Any] = conditions if isinstance(conditions, dict) else {}
        self._evaluating: set[str] = set()

    def _is_function(self, logical_id: str) -> bool:
        resource = self.resources.get(logical_id)
        return isinstance(resource, dict) and resource.get("Type") in (
            SERVERLESS_FUNCTION,
            LAMBDA_FUNCTION,
        )

    def resolve(self, value: Any) -> Any:
        intrinsic = _intrinsic(value)
        if intrinsic is None:
            if isinstance(value, dict):
                out = {k: self.resolve(v) for k, v in value.items()}
                return {k: v for k, v in out.items() if v is not _NO_VALUE}
            if isinstance(value, list):
                return [v for v in (self.resolve(item) for item in value) if v is not _NO_VALUE]
            return value
        key, arg = intrinsic
        handler = self._HANDLERS.get(key)
        if handler is None:
            raise _Unresolvable(f"{_describe(value)} cannot be resolved locally")
        return handler(self, arg)

    def text(self, value: Any) -> str:
        return _scalar_text(self.resolve(value))

    # -- individual functions

    def _ref(self, arg: Any) -> Any:
        if not isinstance(arg, str):
            raise _Unresolvable(f"Ref needs a name, got {_describe(arg)}")
        if arg == "AWS::NoValue":
            return _NO_VALUE
        if arg in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[arg]
        if arg in self.parameters:
            return self.parameters[arg]
        if self._is_function(arg):
            return arg
        if arg in self.resources:
            raise _Unresolvable(
                f"!Ref {arg} ({self.resources[arg].get('Type', 'unknown type')}) has no local value"
            )
        raise _Unresolvable(f"!Ref {arg}: no parameter with a Default or resource of that name")

    def _get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            resource, _, attribute = arg.partition(".")
        elif isinstance(arg, list) and len(arg) == 2:
            resource, attribute = arg[0], self.resolve(arg[1])
        else:
            raise _Unresolvable(f"Fn::GetAtt needs [Resource, Attribute], got {_describe(arg)}")
        if attribute == "Arn" and isinstance(resource, str) and self._is_function(resource):
            return function_arn(resource)
        raise _Unresolvable(f"!GetAtt {resource}.{attribute} has no local value")

    def _sub(self, arg: Any) -> Any:
        variables: Mapping[str, Any] = {}
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, variables = arg[0], arg[1]
        else:
            text = arg
        if not isinstance(text, str):
            raise _Unresolvable(f"Fn::Sub needs a string, got {_describe(text)}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                return self.text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                return self.text({"Fn::GetAtt": [resource, attribute]})
            return self.text({"Ref": name})

        return _SUB_VARIABLE_RE.sub(replace, text)

    def _join(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise _Unresolvable(f"Fn::Join needs [delimiter, [values]], got {_describe(arg)}")
        delimiter = self.text(arg[0])
        items = self.resolve(arg[1])
        if not isinstance(items, list):
            raise _Unresolvable(f"Fn::Join needs a list of values, got {_describe(items)}")
        return delimiter.join(_scalar_text(item) for item in items)

    def _select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise _Unresolvable(f"Fn::Select needs [index, [values]], got {_describe(arg)}")
        index_text = self.text(arg[0])
        items = self.resolve(arg[1])
        if not isinstance(items, list) or not index_text.isdigit():
            raise _Unresolvable(f"Fn::Select cannot pick {index_text!r} from {_describe(items)}")
        index = int(index_text)
        if index >= len(items):
            raise _Unresolvable(f"Fn::Select index {index} is out of range")
        return items[index]

    def _split(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise _Unresolvable(f"Fn::Split needs [delimiter, string], got {_describe(arg)}")
        return self.text(arg[1]).split(self.text(arg[0]))

    def _find_in_map(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise _Unresolvable(f"Fn::FindInMap needs [map, key, key], got {_describe(arg)}")
        keys = [self.text(k) for k in arg[:3]]
        try:
            return self.resolve(self.mappings[keys[0]][keys[1]][keys[2]])
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise _Unresolvable(f"Fn::FindInMap {'/'.join(keys)} is not in Mappings") from None

    def _base64(self, arg: Any) -> Any:
        import base64

        return base64.b64encode(self.text(arg).encode()).decode()

    def _if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise _Unresolvable(f"Fn::If needs [condition, then, else], got {_describe(arg)}")
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise _Unresolvable(f"condition {name!r} is not defined in Conditions")
        if name in self._evaluating:
            raise _Unresolvable(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            return self._truth(self.conditions[name])
        finally:
            self._evaluating.discard(name)

    def _truth(self, value: Any) -> bool:
        intrinsic = _intrinsic(value)
        if intrinsic is None:
            raise _Unresolvable(f"a condition must be a condition function, got {_describe(value)}")
        key, arg = intrinsic
        if key == "Condition" and isinstance(arg, str):
            return self.condition(arg)
        if key == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
            return bool(self.text(arg[0]) == self.text(arg[1]))
        if key == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
            return not self._truth(arg[0])
        if key == "Fn::And" and isinstance(arg, list):
            return all(self._truth(item) for item in arg)
        if key == "Fn::Or" and isinstance(arg, list):
            return any(self._truth(item) for item in arg)
        raise _Unresolvable(f"condition {_describe(value)} cannot be evaluated locally")

    def _condition_value(self, arg: Any) -> Any:
        return self.condition(arg) if isinstance(arg, str) else self._truth(arg)

    _HANDLERS: Mapping[str, Callable[[_Resolver, Any], Any]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::FindInMap": _find_in_map,
        "Fn::Base64": _base64,
        "Fn::If": _if,
        "Condition": _condition_value,
        "Fn::Equals": lambda r, a: r._truth({"Fn::Equals": a}),
        "Fn::Not": lambda r, a: r._truth({"Fn::Not": a}),
        "Fn::And": lambda r, a: r._truth({"Fn::And": a}),
        "Fn::Or": lambda r, a: r._truth({"Fn::Or": a}),
    }


# --------------------------------------------------------------------------- loading


def _deep_merge(base: Any, override: Any) -> Any:
    """SAM Globals merge: mappings merge key by key, anything else is replaced."""
    if (
        isinstance(base, dict)
        and isinstance(override, dict)
        and _intrinsic(base) is None
        and _intrinsic(override) is None
    ):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return override


def _parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, str], where: str
) -> dict[str, Any]:
    declared = template.get("Parameters") or {}
    if not isinstance(declared, dict):
        raise TemplateError(f"{where}: Parameters must be a mapping")
    values: dict[str, Any] = {}
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
            continue  # a Ref to it is reported where it is used
        if param_type.startswith("List<") or param_type == "CommaDelimitedList":
            if isinstance(value, str):
                value = [item.strip() for item in value.split(",")]
        elif not isinstance(value, list):
            value = _scalar_text(value)
        values[name] = value
    for name in overrides:
        if name not in declared:
            raise TemplateError(f"{where}: parameter override {name!r} is not a template parameter")
    return values


class _FunctionReader:
    def __init__(
        self, where: str, template_dir: Path, logical_id: str, resolver: _Resolver
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
        except _Unresolvable as exc:
            raise self.error(prop, f"cannot be resolved: {exc}") from None

    def number(self, prop: str, value: Any, low: int, high: int, *, integer: bool) -> float:
        value = self.resolve(prop, value)
        number: float
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.error(prop, f"must be a number, got {_describe(value)}")
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

    def handler(self, props: Mapping[str, Any]) -> str:
        if "Handler" not in props:
            raise self.error("Handler", "is required (module.function)")
        value = self.resolve("Handler", props["Handler"])
        if not isinstance(value, str) or not value.strip():
            raise self.error("Handler", f"must be a string like module.function, got {value!r}")
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
            raise self.error(prop, f"must be a directory path, got {_describe(value)}")
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
                raise self.error("Environment", f"must be a mapping, got {_describe(env)}")
            variables = env.get("Variables", {})
            if variables is None:
                variables = {}
            if not isinstance(variables, dict) or _intrinsic(variables) is not None:
                raise self.error(
                    "Environment.Variables", f"must be a mapping, got {_describe(variables)}"
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
            except _Unresolvable as exc:
                raise self.error(
                    prop,
                    f"cannot be resolved: {exc} (give it a local value with an env "
                    "override: perdure serve --env-vars FILE)",
                ) from None
            if value is _NO_VALUE:
                continue
            if isinstance(value, dict | list):
                raise self.error(prop, f"must be a string, got {_describe(value)}")
            result[str(key)] = _scalar_text(value)
        for key, value in overrides.items():
            result.setdefault(key, value)
        return result

    def durable(self, props: Mapping[str, Any]) -> tuple[bool, float | None, int]:
        if "DurableConfig" not in props:
            return False, None, DEFAULT_RETENTION_DAYS
        config = self.resolve("DurableConfig", props["DurableConfig"])
        if config is None or config is _NO_VALUE:
            config = {}
        if not isinstance(config, dict):
            raise self.error("DurableConfig", f"must be a mapping, got {_describe(config)}")
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


def _condition_holds(resolver: _Resolver, name: str) -> bool:
    """A resource's Condition; one perdure cannot evaluate counts as true."""
    try:
        return resolver.condition(name)
    except _Unresolvable:
        return True


def _runtime_skip_reason(reader: _FunctionReader, props: Mapping[str, Any]) -> str | None:
    if props.get("PackageType") == "Image" or "ImageUri" in props:
        return "it is a container image function"
    runtime = props.get("Runtime")
    if runtime is None:
        return None
    try:
        runtime = reader.resolver.resolve(runtime)
    except _Unresolvable:
        return None
    if isinstance(runtime, str) and not runtime.startswith("python"):
        return f"its Runtime is {runtime} (perdure runs Python handlers)"
    return None


def load_template(
    path: str | Path,
    *,
    parameter_overrides: Mapping[str, str] | None = None,
    env_overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, FunctionSpec]:
    """The functions of a SAM/CloudFormation template, by logical id.

    ``parameter_overrides`` replaces parameter defaults (``{"Stage": "dev"}``).
    ``env_overrides`` sets environment variables per function (``{"Fn": {"K": "v"}}``;
    the key ``"*"`` applies to every function); an overridden variable is not
    resolved, so the template may hold an intrinsic there that perdure cannot evaluate.
    Functions with a non-Python ``Runtime`` or a container image are skipped (logged).
    Raises ``TemplateError`` for anything that cannot be served.
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

    template = _parse_document(text, where)
    if not isinstance(template, dict):
        raise TemplateError(f"{where}: not a template (expected a mapping with Resources)")
    resources = template.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise TemplateError(f"{where}: no Resources section (a template needs Resources)")

    parameters = _parameter_values(template, parameter_overrides or {}, where)
    resolver = _Resolver(template, parameters)
    globals_section = template.get("Globals") or {}
    function_globals: Any = (
        globals_section.get("Function", {}) if isinstance(globals_section, dict) else {}
    )
    if function_globals is None:
        function_globals = {}
    if not isinstance(function_globals, dict):
        raise TemplateError(f"{where}: Globals.Function must be a mapping")

    overrides = env_overrides or {}
    template_dir = template_path.resolve().parent
    functions: dict[str, FunctionSpec] = {}
    skipped: list[str] = []
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
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            raise reader.error("Properties", "must be a mapping")
        if kind == SERVERLESS_FUNCTION:
            props = _deep_merge(function_globals, props)
        reason = _runtime_skip_reason(reader, props)
        if reason is not None:
            log.warning("%s: skipping resource %s: %s", where, logical_id, reason)
            skipped.append(f"{logical_id} ({reason})")
            continue

        if kind == SERVERLESS_FUNCTION:
            if "InlineCode" in props and "CodeUri" not in props:
                raise reader.error(
                    "InlineCode", "is not supported: put the code in a CodeUri directory"
                )
            code_uri = reader.code_dir("CodeUri", props.get("CodeUri"))
        else:
            code = props.get("Code")
            if isinstance(code, dict) and "ZipFile" in code:
                raise reader.error(
                    "Code.ZipFile", "(inline code) is not supported: use a local directory"
                )
            code_uri = reader.code_dir("Code", code)

        handler = reader.handler(props)
        timeout = DEFAULT_TIMEOUT_S
        if props.get("Timeout") is not None:
            timeout = reader.number("Timeout", props["Timeout"], 1, MAX_TIMEOUT_S, integer=False)
        env_override = {**overrides.get("*", {}), **overrides.get(str(logical_id), {})}
        environment = reader.environment(props, env_override)
        durable, execution_timeout, retention = reader.durable(props)
        functions[str(logical_id)] = FunctionSpec(
            name=str(logical_id),
            handler=handler,
            code_uri=code_uri,
            timeout_s=timeout,
            environment=environment,
            durable=durable,
            execution_timeout_s=execution_timeout,
            retention_days=retention,
        )

    if not functions:
        detail = f"; skipped: {', '.join(skipped)}" if skipped else ""
        raise TemplateError(
            f"{where}: no functions to serve (no {SERVERLESS_FUNCTION} or "
            f"{LAMBDA_FUNCTION} resources{detail})"
        )
    return functions
