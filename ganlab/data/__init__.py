"""Datasets: one module per source (cifar10, fashion_mnist, folder, emoji), each turning its
files into a `Dataset` of train and test images, and the prepared format every later stage
reads (`prepared.py`). `domains.py` builds CycleGAN's two image sets from those sources.
Nothing is imported here, so a stage depends only on what it uses."""
