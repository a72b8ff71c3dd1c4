"""Training: one loop (`loop.train`) for every model in ganlab.models.MODELS."""
