"""The control agents, one home for their names: what each is, which baseline it trains and
what it observes, and which two set the "memory gap closed" scale (ENVIRONMENTS.md,
"Controls"). Suites train them, reports read them; neither spells the names itself."""

from __future__ import annotations

from typing import Literal

MEMORYLESS, FRAME_STACK, ORACLE = "memoryless", "frame_stack", "oracle"
Control = Literal["memoryless", "frame_stack", "oracle"]
#: every control, in the order reports list them
CONTROLS: tuple[str, ...] = (MEMORYLESS, FRAME_STACK, ORACLE)
#: what each control is, for help texts and reports
DESCRIPTIONS = {
    MEMORYLESS: "an MLP on the plain observation (no memory)",
    FRAME_STACK: "an MLP over the last 4 inputs (short memory)",
    ORACLE: "an MLP on the perfect-memory observation (observe: oracle)",
}
#: the baseline file each control trains (by the same PPO as every agent)
BASELINES = {MEMORYLESS: "mlp", FRAME_STACK: "frame_stack", ORACLE: "mlp"}
#: the env option ``observe`` each control trains with
OBSERVE = {MEMORYLESS: "plain", FRAME_STACK: "plain", ORACLE: "oracle"}
#: the controls that set the "memory gap closed" scale: 0 at the first, 1 at the second
GAP_ENDS = (MEMORYLESS, ORACLE)
