"""CloudFormation intrinsic functions, evaluated against one local "account".

Region ``us-east-1``, account ``000000000000``, stack ``perdure``. ``!Ref`` to a
function is its name (its ``FunctionName``, else its logical id) and ``!GetAtt
Fn.Arn`` its ARN; ``!Ref`` to a parameter is its override or default. A resource
perdure does not run (a table, a queue, a bucket, a log group...) resolves to what
the template says about it: its name property (``TableName``, ``QueueName``,
``BucketName``...) and ARNs or URLs built from that name, as AWS would answer; without
a name property, to its logical id, with a warning (``--env-vars`` gives the real
value). Anything else that only AWS knows (``!ImportValue``, SSM parameters...)
cannot be resolved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from perdure.deploy.arns import DEFAULT_ACCOUNT, DEFAULT_REGION, function_arn

STACK_NAME: Final = "perdure"
SERVERLESS_FUNCTION: Final = "AWS::Serverless::Function"
LAMBDA_FUNCTION: Final = "AWS::Lambda::Function"
FUNCTION_TYPES: Final = (SERVERLESS_FUNCTION, LAMBDA_FUNCTION)

# --------------------------------------------------------------------------- resolution

NO_VALUE: Final = object()  # AWS::NoValue


class Unresolvable(Exception):
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


def intrinsic(value: Any) -> tuple[str, Any] | None:
    """(key, argument) when ``value`` is a one-key intrinsic function dict."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if isinstance(key, str) and (
            key in ("Ref", "Condition") or key.startswith("Fn::") or key.startswith("!")
        ):
            return key, arg
    return None


def scalar_text(value: Any) -> str:
    """CloudFormation's string form of a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise Unresolvable(f"expected a string, got {describe(value)}")


def describe(value: Any) -> str:
    found = intrinsic(value)
    if found is not None:
        return f"{{{found[0]}: {json.dumps(found[1], default=str)}}}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class Resolver:
    """Evaluates the intrinsic functions whose value is knowable without AWS."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        missing_parameters: frozenset[str] = frozenset(),
    ) -> None:
        resources = template.get("Resources")
        self.resources: Mapping[str, Any] = resources if isinstance(resources, dict) else {}
        self.parameters = parameters
        self.missing_parameters = missing_parameters
        # Refs to resources perdure does not run, resolved without the template saying
        # what AWS would answer: the caller reports each (one warning per reference).
        self.guesses: list[str] = []
        self._naming: set[str] = set()
        mappings = template.get("Mappings")
        self.mappings: Mapping[str, Any] = mappings if isinstance(mappings, dict) else {}
        conditions = template.get("Conditions")
        self.conditions: Mapping[str, Any] = conditions if isinstance(conditions, dict) else {}
        self._evaluating: set[str] = set()

    def _is_function(self, logical_id: str) -> bool:
        resource = self.resources.get(logical_id)
        return isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES

    def take_guesses(self) -> list[str]:
        """The guessed references since the last call (and forget them)."""
        guesses, self.guesses = self.guesses, []
        return guesses

    def function_name(self, logical_id: str) -> str:
        """A function's name: its resolved ``FunctionName``, else its logical id."""
        resource = self.resources.get(logical_id)
        props = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(props, dict) or props.get("FunctionName") is None:
            return logical_id
        if logical_id in self._naming:
            raise Unresolvable(f"the FunctionName of {logical_id} refers to itself")
        self._naming.add(logical_id)
        try:
            return self.text(props["FunctionName"])
        finally:
            self._naming.discard(logical_id)

    def physical_name(self, logical_id: str) -> tuple[str, bool]:
        """(name, known) of a resource perdure does not run: its name property when
        the template gives one (known), else its logical id (a guess)."""
        resource = self.resources[logical_id]
        kind = str(resource.get("Type", ""))
        props = resource.get("Properties")
        prop = _NAME_PROPERTIES.get(kind)
        if prop is None:  # AWS::Service::Thing: ThingName, else Name
            prop = kind.rsplit("::", 1)[-1] + "Name"
        if isinstance(props, dict):
            for candidate in (prop, "Name"):
                if props.get(candidate) is not None and logical_id not in self._naming:
                    self._naming.add(logical_id)
                    try:
                        return self.text(props[candidate]), True
                    finally:
                        self._naming.discard(logical_id)
        return logical_id, False

    def _resource_value(self, logical_id: str, attribute: str | None) -> str:
        """``!Ref`` (attribute None) or ``!GetAtt`` of a resource perdure does not run."""
        kind = str(self.resources[logical_id].get("Type", "unknown type"))
        name, known = self.physical_name(logical_id)
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "unknown"
        value = _attribute_value(kind, service, name, attribute)
        what = f"!Ref {logical_id}" if attribute is None else f"!GetAtt {logical_id}.{attribute}"
        source = "built from the name the template gives it" if known else (
            "the template gives it no name: built from its logical id"
        )
        self.guesses.append(f"{what} ({kind}, not run by perdure) is {value!r} ({source})")
        return value

    def resolve(self, value: Any) -> Any:
        found = intrinsic(value)
        if found is None:
            if isinstance(value, dict):
                out = {k: self.resolve(v) for k, v in value.items()}
                return {k: v for k, v in out.items() if v is not NO_VALUE}
            if isinstance(value, list):
                return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
            return value
        key, arg = found
        handler = self._HANDLERS.get(key)
        if handler is None:
            raise Unresolvable(f"{describe(value)} cannot be resolved locally")
        return handler(self, arg)

    def text(self, value: Any) -> str:
        return scalar_text(self.resolve(value))

    # -- individual functions

    def _ref(self, arg: Any) -> Any:
        if not isinstance(arg, str):
            raise Unresolvable(f"Ref needs a name, got {describe(arg)}")
        if arg == "AWS::NoValue":
            return NO_VALUE
        if arg in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[arg]
        if arg in self.parameters:
            return self.parameters[arg]
        if arg in self.missing_parameters:
            raise Unresolvable(
                f"parameter {arg} has no Default and no value: "
                f"pass --parameter-overrides {arg}=VALUE"
            )
        if self._is_function(arg):
            return self.function_name(arg)
        if isinstance(self.resources.get(arg), dict):
            return self._resource_value(arg, None)
        raise Unresolvable(f"!Ref {arg}: no parameter with a Default or resource of that name")

    def _get_att(self, arg: Any) -> Any:
        if isinstance(arg, str):
            resource, _, attribute = arg.partition(".")
        elif isinstance(arg, list) and len(arg) == 2:
            resource, attribute = arg[0], self.resolve(arg[1])
        else:
            raise Unresolvable(f"Fn::GetAtt needs [Resource, Attribute], got {describe(arg)}")
        if not isinstance(resource, str) or not isinstance(attribute, str):
            raise Unresolvable(f"Fn::GetAtt needs [Resource, Attribute], got {describe(arg)}")
        if self._is_function(resource):
            if attribute == "Arn":
                return function_arn(self.function_name(resource))
            raise Unresolvable(f"!GetAtt {resource}.{attribute} has no local value")
        if isinstance(self.resources.get(resource), dict):
            return self._resource_value(resource, attribute)
        raise Unresolvable(f"!GetAtt {resource}.{attribute}: no resource named {resource}")

    def _sub(self, arg: Any) -> Any:
        variables: Mapping[str, Any] = {}
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict):
            text, variables = arg[0], arg[1]
        else:
            text = arg
        if not isinstance(text, str):
            raise Unresolvable(f"Fn::Sub needs a string, got {describe(text)}")

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
            raise Unresolvable(f"Fn::Join needs [delimiter, [values]], got {describe(arg)}")
        delimiter = self.text(arg[0])
        items = self.resolve(arg[1])
        if not isinstance(items, list):
            raise Unresolvable(f"Fn::Join needs a list of values, got {describe(items)}")
        return delimiter.join(scalar_text(item) for item in items)

    def _select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise Unresolvable(f"Fn::Select needs [index, [values]], got {describe(arg)}")
        index_text = self.text(arg[0])
        items = self.resolve(arg[1])
        if not isinstance(items, list) or not index_text.isdigit():
            raise Unresolvable(f"Fn::Select cannot pick {index_text!r} from {describe(items)}")
        index = int(index_text)
        if index >= len(items):
            raise Unresolvable(f"Fn::Select index {index} is out of range")
        return items[index]

    def _split(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise Unresolvable(f"Fn::Split needs [delimiter, string], got {describe(arg)}")
        return self.text(arg[1]).split(self.text(arg[0]))

    def _find_in_map(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) in (3, 4)):
            raise Unresolvable(f"Fn::FindInMap needs [map, key, key], got {describe(arg)}")
        keys = [self.text(k) for k in arg[:3]]
        try:
            return self.resolve(self.mappings[keys[0]][keys[1]][keys[2]])
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise Unresolvable(f"Fn::FindInMap {'/'.join(keys)} is not in Mappings") from None

    def _base64(self, arg: Any) -> Any:
        import base64

        return base64.b64encode(self.text(arg).encode()).decode()

    def _if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise Unresolvable(f"Fn::If needs [condition, then, else], got {describe(arg)}")
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise Unresolvable(f"condition {name!r} is not defined in Conditions")
        if name in self._evaluating:
            raise Unresolvable(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            return self._truth(self.conditions[name])
        finally:
            self._evaluating.discard(name)

    def _truth(self, value: Any) -> bool:
        found = intrinsic(value)
        if found is None:
            raise Unresolvable(f"a condition must be a condition function, got {describe(value)}")
        key, arg = found
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
        raise Unresolvable(f"condition {describe(value)} cannot be evaluated locally")

    def _condition_value(self, arg: Any) -> Any:
        return self.condition(arg) if isinstance(arg, str) else self._truth(arg)

    _HANDLERS: Mapping[str, Callable[[Resolver, Any], Any]] = {
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




# --------------------------------------------------------------------------- resources perdure does not run

# The property that names a resource, where it is not <Thing>Name.
_NAME_PROPERTIES: Final = {
    "AWS::Serverless::SimpleTable": "TableName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Serverless::Api": "Name",
    "AWS::Serverless::HttpApi": "Name",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::SSM::Parameter": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::SecretsManager::Secret": "Name",
}


def _attribute_value(kind: str, service: str, name: str, attribute: str | None) -> str:
    """What AWS answers for ``!Ref`` (``attribute`` None) or ``!GetAtt`` of a resource
    named ``name``, built the way AWS builds it; the name itself for anything else."""
    region, account = DEFAULT_REGION, DEFAULT_ACCOUNT
    if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
        arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return {"Arn": arn, "StreamArn": f"{arn}/stream/1970-01-01T00:00:00.000"}.get(
            attribute or "", name
        )
    if kind == "AWS::SQS::Queue":
        url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        if attribute is None or attribute == "QueueUrl":
            return url
        return f"arn:aws:sqs:{region}:{account}:{name}" if attribute == "Arn" else name
    if kind == "AWS::S3::Bucket":
        values = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        }
        return values.get(attribute or "", name)
    if kind == "AWS::SNS::Topic":
        arn = f"arn:aws:sns:{region}:{account}:{name}"
        return arn if attribute in (None, "TopicArn", "Arn") else name
    if kind == "AWS::Logs::LogGroup":
        return f"arn:aws:logs:{region}:{account}:log-group:{name}:*" if attribute == "Arn" else name
    if kind == "AWS::IAM::Role":
        return f"arn:aws:iam::{account}:role/{name}" if attribute == "Arn" else name
    if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
        arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        return arn if attribute in (None, "Arn") else name
    if kind in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
        return f"arn:aws:lambda:{region}:{account}:layer:{name}:1"
    if attribute == "Arn":
        return f"arn:aws:{service}:{region}:{account}:{name}"
    return name
