"""pmarl-bench: memory and coordination benchmarks for (multi-agent) RL in JAX."""
