"""The device time of a JAX profiler trace, by operation: where an update spends its time.

    uv run pmarl-bench bench --budget gpu --only 'train:grid_return/transformer-1L-xla' \
        --repeats 2 --profile /tmp/trace
    uv run python benchmarks/trace_top.py /tmp/trace [--top 30]

Sums the events of each device plane's "XLA Ops" line (GPU kernels by HLO op), or of every
line where there is none, and prints the largest with their share; also by op kind (the name
before the first '.' or digit run: fusion, convolution, custom-call, ...).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from jax._src.lib import _profile_data


def device_times(path: Path) -> tuple[str, Counter, Counter]:
    data = _profile_data.ProfileData.from_file(str(path))
    by_op: Counter = Counter()
    counts: Counter = Counter()
    planes = [p for p in data.planes if p.name.startswith("/device:")]
    for plane in planes:
        lines = [line for line in plane.lines if line.name == "XLA Ops"] or list(plane.lines)
        for line in lines:
            for event in line.events:
                by_op[event.name] += event.duration_ns
                counts[event.name] += 1
    names = "; ".join(
        f"{p.name} (lines: {', '.join(line.name for line in p.lines)})" for p in planes
    )
    return names, by_op, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path, help="a --profile folder or an .xplane.pb file")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    files = [args.trace] if args.trace.is_file() else sorted(args.trace.rglob("*.xplane.pb"))
    if not files:
        raise SystemExit(f"error: no .xplane.pb under {args.trace}")
    planes, by_op, counts = device_times(files[-1])
    total = sum(by_op.values()) or 1
    print(f"{files[-1]}: {planes or 'no device plane'}; {total / 1e6:.1f} ms of device time")
    kinds: Counter = Counter()
    for name, ns in by_op.items():
        kinds[re.split(r"[.\d]", name, maxsplit=1)[0] or name] += ns
    print("\nby kind:")
    for kind, ns in kinds.most_common(12):
        print(f"  {ns / total:6.1%} {ns / 1e6:10.2f} ms  {kind}")
    print(f"\ntop {args.top} ops:")
    for name, ns in by_op.most_common(args.top):
        print(f"  {ns / total:6.1%} {ns / 1e6:10.2f} ms  x{counts[name]:<6} {name[:90]}")


if __name__ == "__main__":
    main()
