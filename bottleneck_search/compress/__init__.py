"""Compressing a trained model: reductions warm-started from its own weights, per-site
sensitivity, widths allocated under a MAC budget, fine-tuning."""

from bottleneck_search.compress.config import CompressConfig
from bottleneck_search.compress.job import CompressionResult, compress_model

__all__ = ["CompressConfig", "CompressionResult", "compress_model"]
