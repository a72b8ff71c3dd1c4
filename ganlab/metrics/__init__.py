"""Metrics: FID (`fid`), its per-checkpoint evaluation (`evaluate`) and best-checkpoint selection."""
