"""Scale-out beyond one process: ``distributed`` (one cell over the devices of several
processes, with ``jax.distributed``) and ``ray_executor`` (a suite's cells over a Ray
cluster). Spreading a cell over the local devices is the trainer's (``trainer.mesh``)."""
