"""Metrics: FID (`fid`), KID (`kid`), the reference statistics (`reference`), the per-checkpoint
evaluation (`evaluate`), best-checkpoint selection (`select`) and the report (`report`); for a
translator pair, its scores (`translation`) and its selection and report (`translation_report`)."""
