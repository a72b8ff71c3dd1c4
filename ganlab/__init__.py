"""ganlab: reproducible GAN experiments (DCGAN and conditional SAGAN) driven by DVC."""

__version__ = "0.1.0"
