"""Grid tasks sharing one tile vocabulary, action naming and renderer (rules: each task's
module docstring)."""

from pmarl_bench.envs.grid.core import FULL_ACTIONS, MOVES, NUM_TILES, GridOptions, Tile
from pmarl_bench.envs.grid.grid_return import GridReturn
from pmarl_bench.envs.grid.king_of_the_hill import KingOfTheHill, KingOfTheHillV1
from pmarl_bench.envs.grid.scouts import Scouts, ScoutsV1
from pmarl_bench.envs.grid.traveling_salesman import TravelingSalesman, TravelingSalesmanV0

__all__ = [
    "FULL_ACTIONS",
    "MOVES",
    "NUM_TILES",
    "GridOptions",
    "GridReturn",
    "KingOfTheHill",
    "KingOfTheHillV1",
    "Scouts",
    "ScoutsV1",
    "Tile",
    "TravelingSalesman",
    "TravelingSalesmanV0",
]
