"""Training: the engine (one loop for every run, :mod:`.engine`), the tasks behind one protocol
(:mod:`.tasks`), one job from run config to run.nc (:mod:`.job`), the sample-wise run
(:mod:`.samplewise`), checkpoints (:mod:`.checkpoint`) and the batched trainer of the two-layer
studies (:mod:`.batched`)."""
