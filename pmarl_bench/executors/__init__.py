"""Executors: where a suite's cells run when not one after the other here (see
``pmarl_bench.executor`` for the contract). ``ray``: one Ray task per cell."""
