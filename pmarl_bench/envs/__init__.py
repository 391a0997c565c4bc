"""Environments: a functional multi-agent API (reset/step over explicit state) and a registry.

from pmarl_bench import envs
env = envs.make("n_back-v0", max_n=4)
state, ts = env.reset(key, env.default_params)
state, ts = env.step(key, state, actions, env.default_params)
"""

from pmarl_bench.envs.base import Environment, EnvOptions, ScoreLevels
from pmarl_bench.envs.carry_bit import CarryBit
from pmarl_bench.envs.grid import (
    GridReturn,
    KingOfTheHill,
    KingOfTheHillV1,
    Scouts,
    ScoutsV1,
    TravelingSalesman,
    TravelingSalesmanV0,
)
from pmarl_bench.envs.multitask import MultiTask
from pmarl_bench.envs.n_back import NBack
from pmarl_bench.envs.registry import default_name, make, register, registered
from pmarl_bench.envs.spaces import Box, Discrete

register("n_back-v0", NBack)
register("carry_bit-v0", CarryBit)
register("grid_return-v0", GridReturn)
register("king_of_the_hill-v0", KingOfTheHill)
register("king_of_the_hill-v1", KingOfTheHillV1)
register("scouts-v0", Scouts)
register("scouts-v1", ScoutsV1)
register("traveling_salesman-v0", TravelingSalesmanV0)
register("traveling_salesman-v1", TravelingSalesman)
register("multitask-v0", MultiTask)

__all__ = [
    "Box",
    "Discrete",
    "EnvOptions",
    "Environment",
    "MultiTask",
    "ScoreLevels",
    "default_name",
    "make",
    "register",
    "registered",
]
