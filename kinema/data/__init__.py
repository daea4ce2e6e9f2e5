"""The real-video data pipeline: scan, split into scenes, score, filter, caption, cache latents (`kinema data ...`)."""
