"""Scale-out beyond one process: ``distributed`` (one cell over the devices of several
processes, with ``jax.distributed``). Spreading a cell over the local devices is the
trainer's (``trainer.mesh``); cells over a Ray cluster are ``executors.ray``'s."""
