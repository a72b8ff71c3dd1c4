"""Training: one loop (`loop.train`) for every model family in `loop.TRAINERS`: the loop owns
resume, checkpoints, logging and the NaN guard (`state.py` the resumable state); each family owns
its iteration (`gan.py` for dcgan and sagan, `cyclegan.py` for cyclegan)."""
