"""Neural networks: the video VAE, the diffusion transformer (DiT) over its latents, and the text encoders."""
