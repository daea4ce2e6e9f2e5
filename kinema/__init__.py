"""Kinema: an open text-to-video system.

    import kinema
    pipe = kinema.load_default()
    video = pipe("a red ball bounces to the right", seconds=2, seed=0)
    video.save("ball.mp4")

The pipeline's names load on first use, so `import kinema` (and the CLI) stays light.
"""

__version__ = "0.1.0"

_LAZY = {"load_default", "Pipeline", "PipelineConfig", "Video"}
__all__ = sorted(_LAZY | {"__version__"})


def __getattr__(name: str):
    if name in _LAZY:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'kinema' has no attribute {name!r}")
