"""Function names, qualifiers and ARNs, as the Lambda API spells them.

perdure answers as one local account: region ``us-east-1``, account ``000000000000``.
A function is named by ``Name``, ``Name:QUALIFIER``, ``ACCOUNT:function:Name[:QUALIFIER]``
or ``arn:aws:lambda:REGION:ACCOUNT:function:Name[:QUALIFIER]``; the qualifier is a
version number, an alias or ``$LATEST``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "LATEST",
    "function_arn",
    "parse_function_name",
    "parse_qualified_name",
]

DEFAULT_REGION: Final = "us-east-1"
DEFAULT_ACCOUNT: Final = "000000000000"
LATEST: Final = "$LATEST"

_NAME_RE = r"[A-Za-z0-9_-]+"
_QUALIFIER_RE = r"(?::(?P<qualifier>[A-Za-z0-9$_.-]+))?"
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
    return parse_qualified_name(name_or_arn)[0]


def parse_qualified_name(name_or_arn: str) -> tuple[str, str | None]:
    """(function name, qualifier or None) of a name or ARN (see ``parse_function_name``)."""
    text = name_or_arn.strip()
    if "/durable-execution/" in text:
        text = text.split("/", 1)[0]
    for pattern in (_FULL_ARN_RE, _PARTIAL_ARN_RE, _PLAIN_NAME_RE):
        match = pattern.match(text)
        if match:
            return match.group("name"), match.group("qualifier")
    raise ValueError(
        f"{name_or_arn!r} is not a function name or ARN "
        "(expected Name, ACCOUNT:function:Name or arn:aws:lambda:REGION:ACCOUNT:function:Name)"
    )


def qualified_arn(name: str, qualifier: str | None) -> str:
    """The function's ARN, with ``:qualifier`` when one is given."""
    return function_arn(name) + (f":{qualifier}" if qualifier else "")
