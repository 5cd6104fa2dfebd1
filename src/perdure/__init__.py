"""perdure: a self-hosted runtime for AWS Lambda durable functions.

Handlers written with the official ``aws-durable-execution-sdk-python`` run unchanged;
state lives in SQLite (default) or PostgreSQL. See ``perdure.run.runtime.Runtime`` to
embed it, ``perdure serve`` for the Lambda-compatible HTTP API.
"""

__version__ = "0.1.0"
