"""Building blocks the networks and their training share: layers (spectral norm, self-attention,
conditional BatchNorm), losses and regularisers as pure functions, and differentiable augmentation."""
