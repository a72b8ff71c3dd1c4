"""Pictures: sample grids, interpolations, translation grids, and the FID/KID/PRDC curves with
their bands over seeds."""
