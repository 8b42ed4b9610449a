"""The test-side IAM evaluator (tests/iam/evaluator.py) over hand-written policies and calls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam.evaluator import (
    ALLOWED,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Call,
    Request,
    UnmappedCall,
    decide,
    refusals,
    requests_of,
)

REGION, ACCOUNT = "eu-west-1", "111122223333"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:events"
URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/events"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


READ = _policy({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::drop/*"})


def test_an_action_on_a_resource_the_statement_names_is_allowed() -> None:
    assert decide([READ], Request("s3:GetObject", "arn:aws:s3:::drop/a/b.csv")) == ALLOWED


def test_an_action_no_statement_names_is_implicitly_denied() -> None:
    assert decide([READ], Request("s3:ListBucket", "arn:aws:s3:::drop")) == IMPLICIT_DENY


def test_the_bucket_itself_is_not_covered_by_its_objects_wildcard() -> None:
    assert decide([READ], Request("s3:GetObject", "arn:aws:s3:::drop")) == IMPLICIT_DENY
    assert decide([READ], Request("s3:GetObject", "arn:aws:s3:::drop-other/x")) == IMPLICIT_DENY


def test_action_wildcards_match_case_insensitively_and_resources_case_sensitively() -> None:
    policy = _policy({"Effect": "Allow", "Action": "SQS:Get*", "Resource": f"arn:aws:sqs:*:{ACCOUNT}:ev?nts"})
    assert decide([policy], Request("sqs:GetQueueUrl", QUEUE)) == ALLOWED
    assert decide([policy], Request("sqs:GetQueueAttributes", QUEUE)) == ALLOWED
    assert decide([policy], Request("sqs:SendMessage", QUEUE)) == IMPLICIT_DENY
    assert decide([policy], Request("sqs:GetQueueUrl", QUEUE.upper())) == IMPLICIT_DENY


def test_an_explicit_deny_wins_over_an_allow_in_any_document() -> None:
    deny = _policy({"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::drop/secret/*"})
    assert decide([READ, deny], Request("s3:GetObject", "arn:aws:s3:::drop/secret/x")) == EXPLICIT_DENY
    assert decide([READ, deny], Request("s3:GetObject", "arn:aws:s3:::drop/public/x")) == ALLOWED


def test_not_action_allows_everything_but_what_it_names() -> None:
    policy = _policy({"Effect": "Allow", "NotAction": ["sqs:Delete*"], "Resource": "*"})
    assert decide([policy], Request("sqs:ReceiveMessage", QUEUE)) == ALLOWED
    assert decide([policy], Request("sqs:DeleteMessage", QUEUE)) == IMPLICIT_DENY


def test_a_statement_with_a_condition_never_allows() -> None:
    policy = _policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"x": "true"}}})
    assert decide([policy], Request("s3:GetObject", "arn:aws:s3:::drop/x")) == IMPLICIT_DENY


def test_a_single_statement_object_is_read_like_a_list_of_one() -> None:
    policy = {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}
    assert decide([policy], Request("s3:GetObject", "arn:aws:s3:::drop/x")) == ALLOWED


def test_calls_map_to_their_actions_and_arns() -> None:
    def needs(service: str, operation: str, **params: str) -> list[tuple[str, str]]:
        call = Call(service, operation, params)
        return [(r.action, r.resource) for r in requests_of(call, region=REGION, account=ACCOUNT)]

    assert needs("s3", "GetObject", Bucket="drop", Key="a.csv", IfMatch='"e"') == [
        ("s3:GetObject", "arn:aws:s3:::drop/a.csv")
    ]
    assert needs("s3", "GetObject", Bucket="drop", Key="a.csv", VersionId="v1") == [
        ("s3:GetObject", "arn:aws:s3:::drop/a.csv"),
        ("s3:GetObjectVersion", "arn:aws:s3:::drop/a.csv"),
    ]
    assert needs("s3", "HeadBucket", Bucket="drop") == [("s3:ListBucket", "arn:aws:s3:::drop")]
    assert needs("sqs", "DeleteMessageBatch", QueueUrl=URL) == [("sqs:DeleteMessage", QUEUE)]
    assert needs("sqs", "SendMessageBatch", QueueUrl=URL) == [("sqs:SendMessage", QUEUE)]
    assert needs("sqs", "GetQueueUrl", QueueName="events") == [("sqs:GetQueueUrl", QUEUE)]


def test_a_call_of_unknown_action_is_refused_by_name_rather_than_guessed() -> None:
    with pytest.raises(UnmappedCall, match="sqs:PurgeQueue"):
        requests_of(Call("sqs", "PurgeQueue", {"QueueUrl": URL}), region=REGION, account=ACCOUNT)


def test_refusals_name_each_denied_call_once() -> None:
    calls = [
        Call("s3", "GetObject", {"Bucket": "drop", "Key": "a.csv"}),
        Call("s3", "HeadBucket", {"Bucket": "drop"}),
        Call("s3", "HeadBucket", {"Bucket": "drop"}),
        Call("sqs", "PurgeQueue", {"QueueUrl": URL}),
    ]
    assert refusals([READ], calls, region=REGION, account=ACCOUNT) == [
        "s3:HeadBucket needs s3:ListBucket on arn:aws:s3:::drop: implicitly denied",
        "no IAM action known for sqs:PurgeQueue",
    ]
