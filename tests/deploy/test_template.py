"""Reading functions from SAM / CloudFormation templates."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest
import yaml

from perdure.deploy.functions import DEFAULT_RETENTION_DAYS, DEFAULT_TIMEOUT_S, FunctionSpec
from perdure.deploy.template import (
    TemplateError,
    function_arn,
    load_template,
    parse_function_name,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "templates"
ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"


def write(tmp_path: Path, body: str, name: str = "template.yaml") -> Path:
    """A template in tmp_path with an ``app`` code directory next to it."""
    (tmp_path / "app").mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def one_function(props: str, extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(props).strip(), " " * 6)
    return (
        textwrap.dedent(extra)
        + "Resources:\n  ProcessFn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        + body
        + "\n"
    )


# --------------------------------------------------------------------------- fixtures


def test_globals_merge_under_each_function() -> None:
    functions = load_template(FIXTURES / "globals.yaml")
    assert sorted(functions) == ["InheritsFn", "OverridesFn"]

    inherits = functions["InheritsFn"]
    assert inherits == FunctionSpec(
        name="InheritsFn",
        handler="handlers.process",
        code_uri=(FIXTURES / "app").resolve(),
        timeout_s=30,
        environment={"STAGE": "dev", "SHARED": "from-globals"},
        durable=True,
        execution_timeout_s=None,
        retention_days=7,
        logical_id="InheritsFn",
        memory_mb=256,  # Globals' MemorySize
    )

    overrides = functions["OverridesFn"]
    assert overrides.code_uri == (FIXTURES / "other").resolve()
    assert overrides.timeout_s == 120
    # Variables merge key by key, the resource's value wins.
    assert overrides.environment == {"STAGE": "dev", "SHARED": "from-resource", "OWN": "1"}
    # DurableConfig merges too: the retention comes from Globals.
    assert overrides.durable is True
    assert overrides.execution_timeout_s == 3600
    assert overrides.retention_days == 7


def test_unused_properties_may_hold_any_tag(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="perdure.deploy.template"):
        functions = load_template(FIXTURES / "unused-properties.yaml")
    # RubyFn is refused (a runtime perdure does not run), SkippedByCondition by its false condition.
    assert list(functions) == ["ProcessFn"]
    fn = functions["ProcessFn"]
    assert fn.handler == "handlers.process"
    assert fn.durable is True
    assert fn.execution_timeout_s == 86400
    assert fn.retention_days == DEFAULT_RETENTION_DAYS
    assert fn.timeout_s == DEFAULT_TIMEOUT_S
    assert fn.environment == {}
    assert "RubyFn" in caplog.text and "ruby3.3" in caplog.text
    assert "SkippedByCondition" in caplog.text


def test_environment_intrinsics_resolve_to_local_values() -> None:
    functions = load_template(FIXTURES / "env.yaml")
    caller = functions["CallerFn"]
    target_arn = ARN_PREFIX + "TargetFn"
    assert caller.environment == {
        "TARGET_NAME": "TargetFn",
        "TARGET_ARN": target_arn,
        "TARGET_LATEST": target_arn + ":$LATEST",
        "TARGET_LONG_FORM": target_arn,
        "WHERE": "us-east-1/000000000000/perdure",
        "STAGE": "dev",
        "RETRIES": "5",
        "SECOND_ZONE": "b",
        "JOINED": "dev-TargetFn",
        "LITERAL": "${NotAVariable}-dev",
        "SUB_VARS": "TargetFn@us-east-1",
        "LEVEL": "DEBUG",
        "MODE": "relaxed",
        "NUMBER": "42",
        "FLOAT": "1.5",
        "FLAG": "true",
        "OFF_FLAG": "false",
        "EMPTY": "",
    }
    # An empty DurableConfig still makes a durable function, with the defaults.
    assert caller.durable is True
    assert caller.execution_timeout_s is None
    assert caller.retention_days == DEFAULT_RETENTION_DAYS


def test_plain_lambda_function_resource() -> None:
    target = load_template(FIXTURES / "env.yaml")["TargetFn"]
    assert target.handler == "worker.handle"
    assert target.code_uri == (FIXTURES / "other").resolve()
    assert target.timeout_s == 10
    assert target.durable is False
    assert target.environment == {}


def test_json_template() -> None:
    fn = load_template(FIXTURES / "template.json")["JsonFn"]
    assert fn.timeout_s == 45
    assert fn.environment == {"SELF": ARN_PREFIX + "JsonFn:$LATEST", "N": "3"}
    assert fn.durable is True
    assert fn.execution_timeout_s == 900
    assert fn.retention_days == 30


def test_parameter_overrides_and_env_overrides() -> None:
    functions = load_template(
        FIXTURES / "env.yaml",
        parameter_overrides={"Stage": "prod", "Zones": "x,y"},
        env_overrides={"CallerFn": {"LEVEL": "WARN"}, "*": {"EVERYWHERE": "1"}},
    )
    env = functions["CallerFn"].environment
    assert env["STAGE"] == "prod"
    assert env["MODE"] == "strict"
    assert env["DROPPED"] == "kept"
    assert env["SECOND_ZONE"] == "y"
    # An overridden variable is not resolved (prod has no Levels mapping entry).
    assert env["LEVEL"] == "WARN"
    assert env["EVERYWHERE"] == "1"
    assert functions["TargetFn"].environment == {"EVERYWHERE": "1"}


def test_defaults_when_properties_are_absent(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler"))
    fn = load_template(path)["ProcessFn"]
    assert fn == FunctionSpec(
        name="ProcessFn",
        handler="app.handler",
        code_uri=tmp_path.resolve(),
        timeout_s=DEFAULT_TIMEOUT_S,
        environment={},
        durable=False,
        logical_id="ProcessFn",
    )


def test_handler_with_slashes_becomes_a_dotted_module(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: pkg/app.handler"))
    fn = load_template(path)["ProcessFn"]
    assert fn.handler == "pkg.app.handler"
    assert fn.module_and_attr == ("pkg.app", "handler")


def test_accepts_a_path_string(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler"))
    assert list(load_template(str(path))) == ["ProcessFn"]


def test_every_short_form_tag_loads(tmp_path: Path) -> None:
    tags = [
        "Ref",
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
        "Condition",
        "GetAZs",
        "Cidr",
    ]
    lines = [f"  T{tag}: !{tag} [a, b]" for tag in tags]
    lines += [f"  S{tag}: !{tag} a.b" for tag in tags]
    lines += [f"  M{tag}: !{tag} {{k: v}}" for tag in tags]
    path = write(tmp_path, one_function("Handler: app.handler\nTags:\n" + "\n".join(lines)))
    # Loads, and the tags sit in a property perdure does not read.
    assert list(load_template(path)) == ["ProcessFn"]

    from perdure.deploy.template_yaml import _CfnLoader

    loaded = yaml.load(path.read_text(), Loader=_CfnLoader)
    tag_values = loaded["Resources"]["ProcessFn"]["Properties"]["Tags"]
    assert tag_values["TRef"] == {"Ref": ["a", "b"]}
    assert tag_values["TCondition"] == {"Condition": ["a", "b"]}
    assert tag_values["TGetAtt"] == {"Fn::GetAtt": ["a", "b"]}
    assert tag_values["SGetAtt"] == {"Fn::GetAtt": ["a", "b"]}
    assert tag_values["SSub"] == {"Fn::Sub": "a.b"}
    assert tag_values["MIf"] == {"Fn::If": {"k": "v"}}
    for tag in tags[2:]:
        if tag != "Condition":
            assert tag_values[f"T{tag}"] == {f"Fn::{tag}": ["a", "b"]}


# --------------------------------------------------------------------------- errors


def expect_error(path: Path, *fragments: str) -> str:
    with pytest.raises(TemplateError) as info:
        load_template(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.yaml", "not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    expect_error(tmp_path, "is a directory")


def test_not_yaml_or_json(tmp_path: Path) -> None:
    path = write(tmp_path, "Resources: [unclosed\n  - : :\n")
    expect_error(path, "not valid YAML or JSON", "line")


def test_broken_json(tmp_path: Path) -> None:
    path = write(tmp_path, '{"Resources": {"A": ', name="template.json")
    expect_error(path, "not valid YAML or JSON")


def test_not_a_mapping(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "- just\n- a list\n"), "not a template")


@pytest.mark.parametrize("body", ["Description: nothing\n", "Resources: {}\n", "Resources: 3\n"])
def test_no_resources(tmp_path: Path, body: str) -> None:
    expect_error(write(tmp_path, body), "no Resources")


def test_no_functions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        Resources:
          Bucket:
            Type: AWS::S3::Bucket
          Java:
            Type: AWS::Serverless::Function
            Properties: {Handler: app.Handler::handleRequest, Runtime: java21}
          OldNode:
            Type: AWS::Serverless::Function
            Properties: {Handler: index.handler, Runtime: nodejs20.x}
        """,
    )
    message = expect_error(path, "no functions to serve", "Java (its Runtime is java21; perdure runs Python")
    assert "OldNode (its Runtime is nodejs20.x; durable functions run on nodejs22.x or nodejs24.x: set Runtime: nodejs24.x)" in message


def test_missing_handler(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("CodeUri: app"))
    assert (
        expect_error(path) == f"{path}: resource ProcessFn: Handler is required (module.function)"
    )


@pytest.mark.parametrize("handler", ["nodots", ".handler", "module.", "[1, 2]"])
def test_bad_handler(tmp_path: Path, handler: str) -> None:
    path = write(tmp_path, one_function(f"Handler: {handler}"))
    expect_error(path, "resource ProcessFn: Handler ")


def test_bad_timeout_text(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler\nTimeout: abc"))
    assert expect_error(path) == (
        f"{path}: resource ProcessFn: Timeout must be a number, got 'abc'"
    )


@pytest.mark.parametrize("value", ["0", "901", "-5", "true", "[1]"])
def test_timeout_out_of_range(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, one_function(f"Handler: app.handler\nTimeout: {value}"))
    expect_error(path, "resource ProcessFn: Timeout must be")


def test_timeout_range_message(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler\nTimeout: 901"))
    expect_error(path, "Timeout must be between 1 and 900, got 901")


def test_timeout_bounds_accepted(tmp_path: Path) -> None:
    for value in ("1", "900", "'60'", "2.5"):
        path = write(tmp_path, one_function(f"Handler: app.handler\nTimeout: {value}"))
        load_template(path)


def test_timeout_from_parameter(tmp_path: Path) -> None:
    extra = "Parameters:\n  T:\n    Type: Number\n    Default: 12\n"
    path = write(tmp_path, one_function("Handler: app.handler\nTimeout: !Ref T", extra))
    assert load_template(path)["ProcessFn"].timeout_s == 12


@pytest.mark.parametrize("value", ["0", "31622401", "soon"])
def test_bad_execution_timeout(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path,
        one_function(f"Handler: app.handler\nDurableConfig:\n  ExecutionTimeout: {value}"),
    )
    expect_error(path, "resource ProcessFn: DurableConfig.ExecutionTimeout must be")


def test_execution_timeout_upper_bound_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        one_function("Handler: app.handler\nDurableConfig:\n  ExecutionTimeout: 31622400"),
    )
    assert load_template(path)["ProcessFn"].execution_timeout_s == 31622400


@pytest.mark.parametrize("value", ["0", "91", "1.5", "never"])
def test_bad_retention(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path,
        one_function(f"Handler: app.handler\nDurableConfig:\n  RetentionPeriodInDays: {value}"),
    )
    expect_error(path, "resource ProcessFn: DurableConfig.RetentionPeriodInDays must be")


def test_durable_config_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler\nDurableConfig: yes-please"))
    expect_error(path, "resource ProcessFn: DurableConfig must be a mapping")


def test_code_uri_missing_directory(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler\nCodeUri: src/missing"))
    expect_error(path, "resource ProcessFn: CodeUri directory 'src/missing' does not exist")


def test_code_uri_is_a_plain_file(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    path = write(tmp_path, one_function("Handler: app.handler\nCodeUri: file.txt"))
    expect_error(path, "resource ProcessFn: CodeUri must be a directory or a .zip file")


def test_code_uri_zip_file_accepted(tmp_path: Path) -> None:
    (tmp_path / "code.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    path = write(tmp_path, one_function("Handler: app.handler\nCodeUri: code.zip"))
    assert load_template(path)["ProcessFn"].code_uri == (tmp_path / "code.zip").resolve()


def test_code_uri_s3_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        one_function("Handler: app.handler\nCodeUri:\n  Bucket: b\n  Key: k.zip"),
    )
    expect_error(path, "resource ProcessFn: CodeUri points at S3", "local code only")


def test_code_uri_s3_url(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler\nCodeUri: s3://b/k.zip"))
    expect_error(path, "resource ProcessFn: CodeUri points at S3 (s3://b/k.zip)")


def test_inline_code(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: index.handler\nInlineCode: print(1)"))
    expect_error(path, "resource ProcessFn: InlineCode is not supported")


def test_lambda_zipfile_code(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        Resources:
          Fn:
            Type: AWS::Lambda::Function
            Properties:
              Handler: index.handler
              Code: {ZipFile: "def handler(e, c): pass"}
        """,
    )
    expect_error(path, "resource Fn: Code.ZipFile (inline code) is not supported")


def test_ref_to_a_table_without_a_name_is_its_logical_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    extra = "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n"
    body = one_function(
        "Handler: app.handler\nEnvironment:\n  Variables:\n    TABLE: !Ref Table"
    ).replace("Resources:\n", "", 1)
    path = write(tmp_path, extra + body)
    with caplog.at_level(logging.WARNING, logger="perdure.deploy.template"):
        fn = load_template(path)["ProcessFn"]
    assert fn.environment == {"TABLE": "Table"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Environment.Variables.TABLE: !Ref Table (AWS::DynamoDB::Table, not run by perdure)" in warnings[0]
    assert "built from its logical id" in warnings[0] and "--env-vars" in warnings[0]
    # --env-vars wins, and then nothing is guessed.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="perdure.deploy.template"):
        fn = load_template(path, env_overrides={"ProcessFn": {"TABLE": "real-orders"}})["ProcessFn"]
    assert fn.environment == {"TABLE": "real-orders"}
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("!GetAtt Queue.Arn", "!GetAtt Queue.Arn: no resource named Queue"),
        ("!GetAtt ProcessFn.Nope", "!GetAtt ProcessFn.Nope has no local value"),
        ("!Ref Nowhere", "!Ref Nowhere: no parameter with a Default"),
        (
            "!Ref NoDefault",
            "parameter NoDefault has no Default and no value: "
            "pass --parameter-overrides NoDefault=VALUE",
        ),
        ('!Sub "${Nowhere}-x"', "!Ref Nowhere"),
        ("!ImportValue shared", '{Fn::ImportValue: "shared"} cannot be resolved locally'),
        ("!If [Unknown, a, b]", "condition 'Unknown' is not defined"),
        ("!GetAZs ''", "Fn::GetAZs"),
        ("{a: b}", "must be a string, got a mapping"),
    ],
)
def test_unresolvable_environment_values(tmp_path: Path, value: str, fragment: str) -> None:
    extra = "Parameters:\n  NoDefault:\n    Type: String\n"
    path = write(
        tmp_path,
        one_function(f"Handler: app.handler\nEnvironment:\n  Variables:\n    V: {value}", extra),
    )
    expect_error(path, "resource ProcessFn: Environment.Variables.V ", fragment)


def test_ssm_parameter_needs_an_override(tmp_path: Path) -> None:
    extra = (
        "Parameters:\n  Key:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: /app/key\n"
    )
    path = write(
        tmp_path,
        one_function("Handler: app.handler\nEnvironment:\n  Variables:\n    K: !Ref Key", extra),
    )
    expect_error(path, "Environment.Variables.K cannot be resolved", "--env-vars")
    fn = load_template(path, parameter_overrides={"Key": "secret"})["ProcessFn"]
    assert fn.environment == {"K": "secret"}


def test_json_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(
            {
                "Resources": {
                    "Fn": {
                        "Type": "AWS::Serverless::Function",
                        "Properties": {"Handler": "app.handler"},
                    }
                }
            }
        ).encode()
    )
    assert list(load_template(path)) == ["Fn"]


def test_environment_variables_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler\nEnvironment:\n  Variables: [a, b]"))
    expect_error(path, "resource ProcessFn: Environment.Variables must be a mapping")


def test_unknown_parameter_override(tmp_path: Path) -> None:
    path = write(tmp_path, one_function("Handler: app.handler"))
    with pytest.raises(TemplateError, match="parameter override 'Nope'"):
        load_template(path, parameter_overrides={"Nope": "1"})


# --------------------------------------------------------------------------- ARNs


def test_function_arn() -> None:
    assert function_arn("Fn") == "arn:aws:lambda:us-east-1:000000000000:function:Fn"
    assert function_arn("Fn", "eu-west-1", "123456789012") == (
        "arn:aws:lambda:eu-west-1:123456789012:function:Fn"
    )


@pytest.mark.parametrize(
    "text",
    [
        "ProcessFn",
        "ProcessFn:live",
        "arn:aws:lambda:us-east-1:000000000000:function:ProcessFn",
        "arn:aws:lambda:us-east-1:000000000000:function:ProcessFn:$LATEST",
        "arn:aws:lambda:eu-west-1:123456789012:function:ProcessFn:7",
        "000000000000:function:ProcessFn",
        "000000000000:function:ProcessFn:$LATEST",
        "arn:aws:lambda:us-east-1:000000000000:function:ProcessFn:$LATEST"
        "/durable-execution/run-1/abc",
    ],
)
def test_parse_function_name(text: str) -> None:
    assert parse_function_name(text) == "ProcessFn"


@pytest.mark.parametrize(
    "text",
    ["", "arn:aws:s3:::bucket", "has space", "arn:aws:lambda:us-east-1:1:function:F", "a:b:c:d"],
)
def test_parse_function_name_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a function name or ARN"):
        parse_function_name(text)
