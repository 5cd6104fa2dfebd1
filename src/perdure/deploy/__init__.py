"""What a function is and which code runs: functions read from a SAM or CloudFormation
template (with its YAML tags and intrinsic functions evaluated locally), names and ARNs,
and versions: snapshots of code and settings, publishing, aliases, pruning.

Imports ``perdure.errors``, ``perdure.clock`` and ``store``; every package above
it may use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from perdure import lazy_exports

if TYPE_CHECKING:
    from perdure.deploy.arns import (
        DEFAULT_ACCOUNT,
        DEFAULT_REGION,
        LATEST,
        function_arn,
        parse_qualified_name,
        qualified_arn,
    )
    from perdure.deploy.esbuild import BUILD_DIR, BuildError
    from perdure.deploy.functions import (
        CUSTOM_RUNTIMES,
        MAX_EXECUTION_TIMEOUT_S,
        NODE_RUNTIMES,
        FunctionSpec,
    )
    from perdure.deploy.node_toolchain import (
        MIN_NODE_MAJOR,
        NodeToolchain,
        NodeUnavailable,
        find_node,
        install_ric,
        node_home,
        ric_entry,
    )
    from perdure.deploy.snapshots import SnapshotError, cache_dir_for, take_snapshot
    from perdure.deploy.template import (
        TemplateError,
        load_template,
        parse_function_name,
    )
    from perdure.deploy.versions import (
        Target,
        VersionKeeper,
        Versions,
        executed_version,
        publish,
        publish_all,
        set_alias,
    )

DOORS = {
    "arns": ["DEFAULT_ACCOUNT", "DEFAULT_REGION", "LATEST", "function_arn", "parse_qualified_name", "qualified_arn"],
    "esbuild": ["BUILD_DIR", "BuildError"],
    "functions": ["CUSTOM_RUNTIMES", "MAX_EXECUTION_TIMEOUT_S", "NODE_RUNTIMES", "FunctionSpec"],
    "node_toolchain": ["MIN_NODE_MAJOR", "NodeToolchain", "NodeUnavailable", "find_node", "install_ric", "node_home", "ric_entry"],
    "snapshots": ["SnapshotError", "cache_dir_for", "take_snapshot"],
    "template": ["TemplateError", "load_template", "parse_function_name"],
    "versions": ["Target", "VersionKeeper", "Versions", "executed_version", "publish", "publish_all", "set_alias"],
}
__all__ = [
    "BUILD_DIR",
    "CUSTOM_RUNTIMES",
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "LATEST",
    "MAX_EXECUTION_TIMEOUT_S",
    "MIN_NODE_MAJOR",
    "NODE_RUNTIMES",
    "BuildError",
    "FunctionSpec",
    "NodeToolchain",
    "NodeUnavailable",
    "SnapshotError",
    "Target",
    "TemplateError",
    "VersionKeeper",
    "Versions",
    "cache_dir_for",
    "executed_version",
    "find_node",
    "function_arn",
    "install_ric",
    "load_template",
    "node_home",
    "parse_function_name",
    "parse_qualified_name",
    "publish",
    "publish_all",
    "qualified_arn",
    "ric_entry",
    "set_alias",
    "take_snapshot",
]
__getattr__ = lazy_exports(__name__, DOORS)
