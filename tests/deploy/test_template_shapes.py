"""Templates in the shapes AWS's tools write: `sam init`, a per-example generator with
a name prefix and log groups, and a CDK-synthesized JSON template."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from perdure.deploy.template import TemplateError, load_template

SHAPES = Path(__file__).parent.parent / "fixtures" / "templates" / "shapes"
FIXTURES = SHAPES.parent
PREFIXED = {"FunctionNamePrefix": "dev-", "LambdaExecutionRoleArn": "arn:aws:iam::1:role/r", "AdotLayerArn": "arn:aws:lambda:us-east-1:1:layer:adot:1"}


def info_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


def test_sam_init_durable_template(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="perdure.deploy.template"):
        functions = load_template(SHAPES / "sam-init-durable.yaml")
    fn = functions["HelloWorldFunction"]
    assert fn.logical_id == "HelloWorldFunction"
    assert fn.code_uri == (SHAPES / "hello_world").resolve()
    assert fn.handler == "app.lambda_handler"
    assert fn.timeout_s == 900 and fn.durable and fn.execution_timeout_s == 900
    assert fn.retention_days == 7
    assert fn.auto_publish_alias == "Live"
    assert fn.log_group_name == "/aws/lambda/HelloWorldFunction" and fn.log_format == "Text"
    # Ignored properties: one info line naming them, no warning.
    infos = info_lines(caplog, logging.INFO)
    assert any("not used by perdure: Architectures, Events" in line for line in infos)
    assert not info_lines(caplog, logging.WARNING)


def test_generated_template_with_a_name_prefix(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="perdure.deploy.template"):
        functions = load_template(SHAPES / "generated.yaml", parameter_overrides=PREFIXED)
    assert sorted(functions) == ["dev-Hello", "dev-Wait"]
    hello = functions["dev-Hello"]
    assert hello.name == "dev-Hello" and hello.logical_id == "Hello"
    assert hello.description == "Says hello"
    assert hello.log_group_name == "/aws/lambda/dev-Hello" and hello.log_format == "JSON"
    assert functions["dev-Wait"].log_group_name == "/aws/lambda/dev-Wait"
    assert hello.timeout_s == 60  # from the Globals
    assert hello.environment == {
        "AWS_ENDPOINT_URL_LAMBDA": "https://lambda.us-east-1.amazonaws.com",
        "ORDERS_TABLE": "dev--orders",
    }
    assert hello.layers == ()  # the ADOT layer is an ARN: left out
    warnings = info_lines(caplog, logging.WARNING)
    # One warning for the one reference to a resource perdure does not run (the log
    # groups are read as what they are: the function's log group).
    table_warnings = [w for w in warnings if "OrdersTable" in w]
    assert len(table_warnings) == 1
    assert "'dev--orders' (built from the name the template gives it)" in table_warnings[0]
    infos = info_lines(caplog, logging.INFO)
    assert any("Layers[0]: arn:aws:lambda:us-east-1:1:layer:adot:1 is not a local layer" in i for i in infos)
    assert any("resource Hello: not used by perdure: Architectures, Role" in i for i in infos)


def test_parameter_without_default_or_override_is_named() -> None:
    with pytest.raises(TemplateError) as caught:
        load_template(SHAPES / "generated.yaml")
    message = str(caught.value)
    assert "resource Hello: FunctionName cannot be resolved" in message
    assert "parameter FunctionNamePrefix has no Default and no value" in message
    assert "--parameter-overrides FunctionNamePrefix=VALUE" in message


def test_cdk_synthesized_template(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="perdure.deploy.template"):
        functions = load_template(SHAPES / "cdk.out" / "DurableStack.template.json")
    assert list(functions) == ["OrderFlow5D2A9C71"]
    fn = functions["OrderFlow5D2A9C71"]
    assert fn.code_uri == (SHAPES / "cdk.out" / "asset.5f1c0a").resolve()
    assert fn.handler == "index.handler" and fn.timeout_s == 30
    assert fn.durable and fn.execution_timeout_s == 3600 and fn.retention_days == 30
    # A bucket without a BucketName: its logical id, with one warning.
    assert fn.environment == {"BUCKET": "ArchiveBucketA1B2C3D4"}
    warnings = info_lines(caplog, logging.WARNING)
    assert len(warnings) == 1 and "!Ref ArchiveBucketA1B2C3D4 (AWS::S3::Bucket" in warnings[0]


def test_one_bad_function_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "app").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent("""\
        Resources:
          Good:
            Type: AWS::Serverless::Function
            Properties: {Handler: app.handler, CodeUri: app}
          Bad:
            Type: AWS::Serverless::Function
            Properties:
              Handler: app.handler
              CodeUri: app
              Environment: {Variables: {V: !ImportValue shared}}
        """))
    with caplog.at_level(logging.ERROR, logger="perdure.deploy.template"):
        functions = load_template(path)
    assert list(functions) == ["Good"]
    errors = info_lines(caplog, logging.ERROR)
    assert len(errors) == 1 and "resource Bad: Environment.Variables.V cannot be resolved" in errors[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("!Ref Queue", "https://sqs.us-east-1.amazonaws.com/000000000000/jobs"),
        ("!GetAtt Queue.Arn", "arn:aws:sqs:us-east-1:000000000000:jobs"),
        ("!GetAtt Queue.QueueName", "jobs"),
        ("!Ref Table", "orders"),
        ("!GetAtt Table.Arn", "arn:aws:dynamodb:us-east-1:000000000000:table/orders"),
        ("!Ref Bucket", "media"),
        ("!GetAtt Bucket.Arn", "arn:aws:s3:::media"),
        ("!Ref Topic", "arn:aws:sns:us-east-1:000000000000:done"),
        ("!GetAtt Unnamed.Arn", "arn:aws:dynamodb:us-east-1:000000000000:table/Unnamed"),
        ("!Ref Machine", "arn:aws:states:us-east-1:000000000000:stateMachine:Machine"),
        ('!Sub "${Table}/${Queue.Arn}"', "orders/arn:aws:sqs:us-east-1:000000000000:jobs"),
        ("!Ref Other", "other-fn"),
        ("!GetAtt Other.Arn", "arn:aws:lambda:us-east-1:000000000000:function:other-fn"),
    ],
)
def test_references_to_resources_perdure_does_not_run(tmp_path: Path, value: str, expected: str) -> None:
    (tmp_path / "app").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(f"""\
        Resources:
          Queue: {{Type: AWS::SQS::Queue, Properties: {{QueueName: jobs}}}}
          Table: {{Type: AWS::DynamoDB::Table, Properties: {{TableName: orders}}}}
          Unnamed: {{Type: AWS::DynamoDB::Table}}
          Bucket: {{Type: AWS::S3::Bucket, Properties: {{BucketName: media}}}}
          Topic: {{Type: AWS::SNS::Topic, Properties: {{TopicName: done}}}}
          Machine: {{Type: AWS::Serverless::StateMachine}}
          Other:
            Type: AWS::Serverless::Function
            Properties: {{Handler: app.handler, CodeUri: app, FunctionName: other-fn}}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Handler: app.handler
              CodeUri: app
              Environment: {{Variables: {{V: {value}}}}}
        """))
    functions = load_template(path)
    assert functions["Fn"].environment == {"V": expected}
    assert functions["other-fn"].logical_id == "Other"


def test_local_layers_and_duplicate_names(tmp_path: Path) -> None:
    fn = load_template(FIXTURES / "unused-properties.yaml")["ProcessFn"]
    assert fn.layers == ((FIXTURES / "layer").resolve(),)
    (tmp_path / "app").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent("""\
        Resources:
          A:
            Type: AWS::Serverless::Function
            Properties: {Handler: app.handler, CodeUri: app, FunctionName: same}
          B:
            Type: AWS::Serverless::Function
            Properties: {Handler: app.handler, CodeUri: app, FunctionName: same}
        """))
    assert load_template(path)["same"].logical_id == "A"


@pytest.mark.parametrize(
    ("props", "fragment"),
    [
        ("LoggingConfig: {LogFormat: XML}", "LoggingConfig.LogFormat must be Text or JSON"),
        ("AutoPublishAlias: '3'", "AutoPublishAlias must be an alias name"),
        ("FunctionName: 'bad name'", "FunctionName 'bad name' is not a valid function name"),
    ],
)
def test_bad_new_properties(tmp_path: Path, props: str, fragment: str) -> None:
    (tmp_path / "app").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      Handler: app.handler\n      CodeUri: app\n      {props}\n"
    )
    with pytest.raises(TemplateError, match="resource Fn: ") as caught:
        load_template(path)
    assert fragment in str(caught.value)
