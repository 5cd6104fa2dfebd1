"""CloudFormation's ``DescribeStackResource`` and ``DescribeStackResources`` (query
protocol: a form-encoded ``Action``, an XML answer) for the template perdure serves.

Tools find a function's log group through them: the template's logical id gives the
function's physical name, and the log group is ``/aws/lambda/<physical name>``. The
served template is the only stack, so any stack name is answered with it; a logical
id that is not one of its functions is a ``ValidationError``, as CloudFormation says.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from perdure.deploy import FunctionSpec

XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
ACTIONS = ("DescribeStackResource", "DescribeStackResources")
DEFAULT_STACK = "perdure"


def logical_id(spec: FunctionSpec) -> str:
    value = getattr(spec, "logical_id", None)
    return value if isinstance(value, str) and value else spec.name


def _xml_response(action: str, inner: str, request_id: str) -> Response:
    body = (
        f'<{action}Response xmlns="{XMLNS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    )
    return Response(body, media_type="text/xml", headers={"x-amzn-RequestId": request_id})


def _error(code: str, message: str, request_id: str, status: int = 400) -> Response:
    body = (
        f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{escape(code)}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return Response(body, status_code=status, media_type="text/xml", headers={"x-amzn-RequestId": request_id})


class CloudFormationApi:
    """Answers the two CloudFormation actions for one deployment's functions."""

    def __init__(self, functions: Mapping[str, FunctionSpec], *, started: dt.datetime | None = None) -> None:
        self.functions = functions
        self.started = (started or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.stack_uuid = str(uuid.uuid4())

    @staticmethod
    def wants(request: Request) -> bool:
        return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        raw = await request.body()
        try:
            form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            return _error("ValidationError", "Request body is not UTF-8 form data", request_id)
        action = form.get("Action", "")
        if action not in ACTIONS:
            return _error("InvalidAction", f"perdure does not serve the CloudFormation action {action!r}", request_id)
        stack = form.get("StackName") or DEFAULT_STACK
        if action == "DescribeStackResource":
            wanted = form.get("LogicalResourceId")
            if not wanted:
                return _error("ValidationError", "LogicalResourceId is required", request_id)
            found = [spec for spec in self.functions.values() if logical_id(spec) == wanted]
            if not found:
                return _error("ValidationError", f"Resource {wanted} does not exist for stack {stack}", request_id)
            return _xml_response(action, f"<StackResourceDetail>{self._resource(stack, found[0], detail=True)}</StackResourceDetail>", request_id)
        specs = sorted(self.functions.values(), key=logical_id)
        if form.get("LogicalResourceId"):
            specs = [s for s in specs if logical_id(s) == form["LogicalResourceId"]]
        if form.get("PhysicalResourceId"):
            specs = [s for s in specs if s.name == form["PhysicalResourceId"]]
            if not specs:
                return _error("ValidationError", f"Stack for {form['PhysicalResourceId']} does not exist", request_id)
        members = "".join(f"<member>{self._resource(stack, s, detail=False)}</member>" for s in specs)
        return _xml_response(action, f"<StackResources>{members}</StackResources>", request_id)

    def _resource(self, stack: str, spec: FunctionSpec, *, detail: bool) -> str:
        stamp = "LastUpdatedTimestamp" if detail else "Timestamp"
        return (
            f"<StackName>{escape(stack)}</StackName>"
            f"<StackId>arn:aws:cloudformation:us-east-1:000000000000:stack/{escape(stack)}/{self.stack_uuid}</StackId>"
            f"<LogicalResourceId>{escape(logical_id(spec))}</LogicalResourceId>"
            f"<PhysicalResourceId>{escape(spec.name)}</PhysicalResourceId>"
            f"<ResourceType>AWS::Lambda::Function</ResourceType>"
            f"<{stamp}>{self.started}</{stamp}>"
            f"<ResourceStatus>CREATE_COMPLETE</ResourceStatus>"
        )
