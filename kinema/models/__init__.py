"""Neural networks: the video VAE (and, later, the diffusion transformer and text encoder)."""
