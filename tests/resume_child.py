"""``pmarl-bench`` in a child process that kills itself with SIGKILL at a chosen point, as a
crash, an OOM kill or a lost node would (used by ``test_resume.py``).

    python tests/resume_child.py KILL_AT WHERE -- run SUITE ...

``KILL_AT``: the how-manieth chunk of this process (over all its cells); ``WHERE``: ``chunk``
(right after the chunk's metrics were written), ``snapshot`` (inside that chunk's snapshot
write, after orbax wrote the state and before the snapshot is complete) or ``term`` (not a
kill: SIGTERM as the chunk ends, as a scheduler preempting the job sends it)."""

from __future__ import annotations

import os
import signal
import sys

from pmarl_bench.results import staging
from pmarl_bench.runner import cell as cell_runner

kill_at, where = int(sys.argv[1]), sys.argv[2]
args = sys.argv[sys.argv.index("--") + 1 :]
seen = {"chunks": 0}

on_chunk = cell_runner._CellRun._on_chunk
replace_text = staging._replace_text


def counting_on_chunk(self, chunk):
    seen["chunks"] += 1
    if seen["chunks"] == kill_at and where == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    if seen["chunks"] == kill_at and where == "chunk":
        staging.write_live(self.stage, self._frame(chunk.metrics()))
        os.kill(os.getpid(), signal.SIGKILL)
    return on_chunk(self, chunk)


def dying_replace_text(path, text):
    if seen["chunks"] == kill_at and where == "snapshot" and path.name == "info.json":
        os.kill(os.getpid(), signal.SIGKILL)
    return replace_text(path, text)


cell_runner._CellRun._on_chunk = counting_on_chunk  # type: ignore[method-assign]
staging._replace_text = dying_replace_text

from pmarl_bench.cli import main  # noqa: E402

sys.argv = ["pmarl-bench", *args]
main()
