"""Records every AWS API call a process makes, as JSON lines in $STREAMPROC_TEST_AWS_CALLS (loaded by sitecustomize).

A `provide-client-params` hook on every botocore session, aiobotocore's included (its AioSession is a botocore
Session), sees the parameters the real code passes before they are serialised: what IAM authorises on.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import botocore.session

ENV = "STREAMPROC_TEST_AWS_CALLS"
_NAMING = ("Bucket", "Key", "VersionId", "IfMatch", "QueueUrl", "QueueName", "QueueOwnerAWSAccountId")
_lock = threading.Lock()


def _record(**kwargs: Any) -> None:
    params, model = kwargs["params"], kwargs["model"]
    line = {
        "service": model.service_model.service_name,
        "operation": model.name,
        "params": {k: str(params[k]) for k in _NAMING if k in params},
        "pid": os.getpid(),
    }
    with _lock, Path(os.environ[ENV]).open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def install() -> None:
    """Every botocore session made from now on registers the recorder."""
    original = botocore.session.Session.__init__

    def init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.register("provide-client-params", _record)

    type.__setattr__(botocore.session.Session, "__init__", init)  # a test-only hook: every session records


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
