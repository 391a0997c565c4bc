"""The control agents, one home for their names: what each is, which baseline it trains and
what it observes, and which two set the "memory gap closed" scale (ENVIRONMENTS.md,
"Controls"). Suites train them, reports read them; neither spells the names itself."""

from __future__ import annotations

from typing import Literal

MEMORYLESS, FRAME_STACK = "memoryless", "frame_stack"
ORACLE_MEMORY, ORACLE_STATE = "oracle_memory", "oracle_state"
#: the full-state control's name in results from before oracle_memory existed
OLD_ORACLE = "oracle"
Control = Literal["memoryless", "frame_stack", "oracle_memory", "oracle_state"]
#: every control, in the order reports list them
CONTROLS: tuple[str, ...] = (MEMORYLESS, FRAME_STACK, ORACLE_MEMORY, ORACLE_STATE)
#: what each control is, for help texts and reports
DESCRIPTIONS = {
    MEMORYLESS: "an MLP on the current observation only (no memory, no previous action or reward)",
    FRAME_STACK: "an MLP over the last 4 observations (remembers exactly 3 steps back)",
    ORACLE_MEMORY: "an MLP on the observation plus everything the agent has observed earlier "
    "in the episode (perfect memory; observe: oracle_memory)",
    ORACLE_STATE: "an MLP on the observation plus what the task hides, seen or not (full "
    "state; observe: oracle_state)",
}
#: the baseline file each control trains (by the same PPO as every agent)
BASELINES = {MEMORYLESS: "mlp", FRAME_STACK: "frame_stack", ORACLE_MEMORY: "mlp",
             ORACLE_STATE: "mlp"}  # fmt: skip
#: the env option ``observe`` each control trains with
OBSERVE = {MEMORYLESS: "plain", FRAME_STACK: "plain", ORACLE_MEMORY: "oracle_memory",
           ORACLE_STATE: "oracle_state"}  # fmt: skip
#: the controls whose observation has parts the others' lack (old results' name included)
ORACLES = (ORACLE_MEMORY, ORACLE_STATE, OLD_ORACLE)
#: the controls that set the "memory gap closed" scale: 0 at the first, 1 at the second
GAP_ENDS = (MEMORYLESS, ORACLE_MEMORY)
#: the controls whose difference is what a task hides beyond memory (exploration)
HIDDEN_ENDS = (ORACLE_MEMORY, ORACLE_STATE)
