"""A small IAM evaluator for the repository's own policies: AWS calls mapped to actions and ARNs, then judged.

Enough of IAM's rules for the documents terraform/iam.tf produces: Allow/Deny statements, Action/NotAction,
Resource/NotResource with `*` and `?` wildcards (actions case-insensitive, ARNs case-sensitive); an explicit
Deny wins over any Allow; nothing allowed is denied. Conditions are not evaluated: a statement with one never
allows and always denies (conservative), so a policy that starts using them makes this evaluator fail loudly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

ALLOWED, IMPLICIT_DENY, EXPLICIT_DENY = "allowed", "implicitly denied", "explicitly denied"


@dataclass(frozen=True)
class Call:
    """One AWS API call a process made: the service, the operation and the parameters that name a resource."""

    service: str
    operation: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class Request:
    """One IAM authorisation a call needs: an action on a resource ARN."""

    action: str
    resource: str


class UnmappedCall(ValueError):
    """A call this module does not know the IAM action of: add it to _ACTIONS rather than guessing."""


_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "GetObject"): ("s3:GetObject",),
    ("s3", "HeadObject"): ("s3:GetObject",),
    ("s3", "HeadBucket"): ("s3:ListBucket",),
    ("s3", "ListObjects"): ("s3:ListBucket",),
    ("s3", "ListObjectsV2"): ("s3:ListBucket",),
    ("s3", "GetBucketLocation"): ("s3:GetBucketLocation",),
    ("s3", "PutObject"): ("s3:PutObject",),
    ("sqs", "ReceiveMessage"): ("sqs:ReceiveMessage",),
    ("sqs", "DeleteMessage"): ("sqs:DeleteMessage",),
    ("sqs", "DeleteMessageBatch"): ("sqs:DeleteMessage",),
    ("sqs", "SendMessage"): ("sqs:SendMessage",),
    ("sqs", "SendMessageBatch"): ("sqs:SendMessage",),
    ("sqs", "ChangeMessageVisibility"): ("sqs:ChangeMessageVisibility",),
    ("sqs", "ChangeMessageVisibilityBatch"): ("sqs:ChangeMessageVisibility",),
    ("sqs", "GetQueueAttributes"): ("sqs:GetQueueAttributes",),
    ("sqs", "GetQueueUrl"): ("sqs:GetQueueUrl",),
}
_OBJECT_OPERATIONS = {"GetObject", "HeadObject", "PutObject"}


def requests_of(call: Call, *, region: str, account: str) -> list[Request]:
    """The authorisations `call` needs (a versioned read needs s3:GetObjectVersion as well)."""
    actions = _ACTIONS.get((call.service, call.operation))
    if actions is None:
        msg = f"no IAM action known for {call.service}:{call.operation}"
        raise UnmappedCall(msg)
    resource = _resource(call, region=region, account=account)
    found = [Request(a, resource) for a in actions]
    if call.service == "s3" and call.operation in {"GetObject", "HeadObject"} and call.params.get("VersionId"):
        found.append(Request("s3:GetObjectVersion", resource))
    return found


def _resource(call: Call, *, region: str, account: str) -> str:
    p = call.params
    if call.service == "s3":
        bucket = p["Bucket"]
        return f"arn:aws:s3:::{bucket}/{p['Key']}" if call.operation in _OBJECT_OPERATIONS else f"arn:aws:s3:::{bucket}"
    if "QueueUrl" in p:
        owner, name = urlsplit(p["QueueUrl"]).path.strip("/").split("/")[-2:]
        return f"arn:aws:sqs:{region}:{owner}:{name}"
    return f"arn:aws:sqs:{region}:{p.get('QueueOwnerAWSAccountId', account)}:{p['QueueName']}"


@cache
def _pattern(glob: str, *, fold: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if fold else re.DOTALL)


def _listed(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(statement: Mapping[str, Any], key: str, value: str, *, fold: bool) -> bool:
    """Whether the statement's Key (or NotKey) covers value; a statement with neither covers nothing."""
    if key in statement:
        return any(_pattern(g, fold=fold).match(value) for g in _listed(statement[key]))
    if f"Not{key}" in statement:
        return not any(_pattern(g, fold=fold).match(value) for g in _listed(statement[f"Not{key}"]))
    return False


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    return _matches(statement, "Action", request.action, fold=True) and _matches(
        statement, "Resource", request.resource, fold=False
    )


def decide(documents: Iterable[Mapping[str, Any]], request: Request) -> str:
    """ALLOWED, IMPLICIT_DENY or EXPLICIT_DENY for `request` under every statement of `documents`."""
    allowed = False
    for document in documents:
        statements = document.get("Statement", [])
        for statement in [statements] if isinstance(statements, Mapping) else statements:
            conditional = "Condition" in statement
            if statement.get("Effect") == "Deny" and (conditional or _applies(statement, request)):
                return EXPLICIT_DENY
            if statement.get("Effect") == "Allow" and not conditional and _applies(statement, request):
                allowed = True
    return ALLOWED if allowed else IMPLICIT_DENY


def refusals(documents: Sequence[Mapping[str, Any]], calls: Iterable[Call], *, region: str, account: str) -> list[str]:
    """One line per distinct call the documents would refuse (or that has no known IAM action)."""
    found: list[str] = []
    for call in calls:
        try:
            needed = requests_of(call, region=region, account=account)
        except UnmappedCall as exc:
            found.append(str(exc))
            continue
        for request in needed:
            verdict = decide(documents, request)
            if verdict != ALLOWED:
                found.append(f"{call.service}:{call.operation} needs {request.action} on {request.resource}: {verdict}")
    return list(dict.fromkeys(found))
