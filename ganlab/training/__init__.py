"""Training: one loop (`loop.train`) for every model family registered in `families.py`. The loop
resumes (`resume.py`), iterates, logs and checkpoints; `state.py` holds the resumable state and
what every family shares (Adam, the one optimizer update, autocast, EMA, schedules); each family
owns its two updates (`gan.py` for dcgan and sagan, `cyclegan.py` for cyclegan)."""
