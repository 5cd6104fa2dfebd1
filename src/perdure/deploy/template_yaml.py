"""Parsing CloudFormation templates: YAML with short-form intrinsic tags, or JSON.

Short-form tags (``!Ref``, ``!Sub``, ``!GetAtt``...) become their long form
(``{"Ref": ...}``, ``{"Fn::Sub": ...}``); any other tag is kept as ``{"!Tag": value}``
so properties perdure does not read may hold anything. Dates stay strings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

import yaml

__all__ = ["TemplateError", "parse_document"]


class TemplateError(ValueError):
    """A template that cannot be served; the message names file, resource and property."""


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


def parse_document(text: str, where: str) -> Any:
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

