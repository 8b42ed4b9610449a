"""SQS adapter: long-poll receive, batch delete and batch send with aioboto3; errors become the project's."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bridge.messages import DlqMessage
from bridge.settings import QueueRef
from streamproc.shared.errors import TerminalError, TransientError
from streamproc.shared.settings import AwsSettings

logger = logging.getLogger(__name__)

_TRANSIENT_CODES = {
    "RequestThrottled",
    "ThrottlingException",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "KmsThrottled",
    "RequestTimeout",
}


class QueueUnavailable(TransientError):
    """SQS unreachable, throttling or failing on its side: retry with backoff."""


class QueueRejected(TerminalError):
    """SQS refused the request itself (queue missing, access denied, bad parameter); `code` is SQS's."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


# Refusals of a message's content (size, characters, attributes): sending it again cannot succeed. Every
# other refusal (queue missing, access denied) is about the queue and may be cured by its operator.
MESSAGE_REFUSALS = frozenset(
    {
        "InvalidParameterValue",
        "InvalidMessageContents",
        "InvalidAttributeName",
        "InvalidAttributeValue",
        "MessageTooLong",
        "BatchRequestTooLong",
    }
)


QueueError = (QueueUnavailable, QueueRejected)  # what every SQS call may raise


@dataclass(frozen=True, kw_only=True)
class Received:
    """One received SQS message."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


@dataclass(frozen=True, kw_only=True)
class SendFailure:
    """An entry of a batch SQS did not accept."""

    index: int
    code: str
    sender_fault: bool


def _translate(exc: Exception) -> QueueUnavailable | QueueRejected:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in _TRANSIENT_CODES or status >= 500:
            return QueueUnavailable(f"SQS unavailable: {code or status}")
        return QueueRejected(f"SQS rejected the request: {code or status}", code)
    return QueueUnavailable(f"SQS unreachable: {type(exc).__name__}")


class Sqs:
    """One aioboto3 SQS client, opened in start() and closed in stop()."""

    def __init__(self, aws: AwsSettings, *, read_timeout: float = 60.0) -> None:
        self._aws = aws
        self._config = Config(
            connect_timeout=5, read_timeout=read_timeout, retries={"mode": "standard", "max_attempts": 3}
        )
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def start(self) -> None:
        session = aioboto3.Session()
        client = session.client("sqs", config=self._config, **self._aws.client_kwargs())
        self._client = await self._stack.enter_async_context(client)

    async def stop(self) -> None:
        await self._stack.aclose()
        self._client = None

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = await getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            raise _translate(exc) from exc
        return response

    async def resolve(self, ref: QueueRef) -> str:
        """The queue's URL: as configured, or looked up by name."""
        if ref.url:
            return ref.url
        response = await self._call("get_queue_url", QueueName=ref.name)
        return str(response["QueueUrl"])

    async def attributes(self, url: str) -> dict[str, str]:
        """The queue's message counts (one cheap call: what the bridge's health view asks SQS)."""
        response = await self._call(
            "get_queue_attributes",
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        return {str(k): str(v) for k, v in response.get("Attributes", {}).items()}

    async def visibility_timeout(self, url: str) -> int:
        """The queue's own VisibilityTimeout in seconds (what a receive without one gets)."""
        response = await self._call("get_queue_attributes", QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        raw = response.get("Attributes", {}).get("VisibilityTimeout")
        try:
            return int(raw)
        except (TypeError, ValueError):
            msg = f"SQS answered GetQueueAttributes without a whole VisibilityTimeout ({raw!r})"
            raise QueueRejected(msg, "InvalidAttribute") from None

    async def receive(
        self, url: str, *, max_messages: int, wait_seconds: int, visibility_timeout: int | None = None
    ) -> list[Received]:
        """Long-poll; `visibility_timeout` (seconds) overrides the queue's own for the messages received."""
        extra = {} if visibility_timeout is None else {"VisibilityTimeout": visibility_timeout}
        response = await self._call(
            "receive_message",
            QueueUrl=url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            **extra,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return [
            Received(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m.get("Body", ""),
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for m in response.get("Messages", [])
        ]

    async def delete(self, url: str, messages: Sequence[Received]) -> list[str]:
        """Batch-delete (10 per call); returns the ids SQS did not delete."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)]
            response = await self._call("delete_message_batch", QueueUrl=url, Entries=entries)
            failed += [chunk[int(f["Id"])].message_id for f in response.get("Failed", [])]
        return failed

    async def change_visibility(self, url: str, messages: Sequence[Received], hidden_for: int) -> list[str]:
        """ChangeMessageVisibilityBatch (10 per call): hidden for `hidden_for` s from now; the ids SQS refused
        (a receipt handle gone stale: the message was received again since, or deleted)."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": hidden_for}
                for i, m in enumerate(chunk)
            ]
            response = await self._call("change_message_visibility_batch", QueueUrl=url, Entries=entries)
            failed += [chunk[int(f["Id"])].message_id for f in response.get("Failed", [])]
        return failed

    async def send(self, url: str, messages: Sequence[DlqMessage]) -> list[SendFailure]:
        """One SendMessageBatch call (the caller keeps it within SQS's limits); the entries refused."""
        entries = [
            {"Id": str(i), "MessageBody": m.body, "MessageAttributes": m.attributes} for i, m in enumerate(messages)
        ]
        response = await self._call("send_message_batch", QueueUrl=url, Entries=entries)
        return [
            SendFailure(index=int(f["Id"]), code=str(f.get("Code", "")), sender_fault=bool(f.get("SenderFault")))
            for f in response.get("Failed", [])
        ]
