"""Generation: one pipeline for every task (kinema.pipeline.pipeline), its folder layout, samplers, prompt
scripts and upsampling."""

from .config import PipelineConfig
from .pipeline import Pipeline, load_default
from .upsample import ChatUpsampler, WorldUpsampler
from .video import Video

__all__ = ["ChatUpsampler", "Pipeline", "PipelineConfig", "Video", "WorldUpsampler", "load_default"]
