"""The two halves of a side-by-side measurement between Pythons (the peer's packages cannot
share this project's environment): a worker process compiles and warms up its program, says
it is ready, then times one call per ``run`` line on stdin; the driver alternates workers.
No JAX import here, so any worker's Python can load it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable


def serve(call: Callable[[], object], ready: dict) -> None:
    """Worker side: ``call`` runs the compiled program once and blocks until it is done."""
    call()  # warm-up
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t0 = time.perf_counter()
        call()
        print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)


class Worker:
    """Driver side: one worker process; ``ready`` is what it said once compiled."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.ready = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):  # a peer's imports may print banners (pygame does)
                return json.loads(line)
        raise SystemExit(f"worker {self.proc.args!r} exited ({self.proc.wait()})")

    def run(self) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()
