"""py-spy profiles saved with the results, and the few lines of each that say where the time goes."""

from __future__ import annotations

import collections
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path


class Spy:
    """`py-spy record` attached to one process until stop(); writes a speedscope profile (speedscope.app)."""

    def __init__(self, pid: int, out: Path, *, rate: int = 100) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._proc = subprocess.Popen(  # our own fixed argv: the dev dependency py-spy, on a process of ours
            [spy, "record", "--pid", str(pid), "--output", str(out), "--format", "speedscope", "--rate", str(rate)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> str | None:
        """End the recording; None when the profile was written, else why not (py-spy's last words)."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            _, err = self._proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return "py-spy did not stop"
        if self.out.exists():
            return None
        return (err or b"").decode(errors="replace").strip().splitlines()[-1:][0] if err else "no profile written"


def top_self(path: Path, within: str | None = None, count: int = 10) -> list[tuple[str, float]]:
    """The functions with the most self time (share of samples), optionally only in stacks through `within`."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    names = [f"{f['name']} ({_short(f.get('file', ''))})" for f in frames]
    own: collections.Counter[str] = collections.Counter()
    total = 0.0
    for profile in data["profiles"]:
        samples = profile.get("samples", [])
        for stack, weight in zip(samples, profile.get("weights", [1] * len(samples)), strict=True):
            if not stack or (within and not any(within in names[i] for i in stack)):
                continue
            total += weight
            own[names[stack[-1]]] += weight
    return [(name, n / total) for name, n in own.most_common(count)] if total else []


def _short(file: str) -> str:
    for marker in ("site-packages/", "/streamproc/", "/devstack/", "/bridge/", "/lib/python3"):
        if marker in file:
            head = "" if marker.startswith("site") or marker.startswith("/lib") else marker.strip("/") + "/"
            return head + file.split(marker, 1)[1]
    return file
