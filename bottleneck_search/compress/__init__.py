"""Compressing a trained model: reductions warm-started from its own weights, per-site
sensitivity, widths allocated under a MAC budget, fine-tuning (`job.compress_model`).

Nothing is imported here, so the CLI can read `config.CompressConfig`'s defaults without loading
TensorFlow; the public names are exported lazily by `bottleneck_search`.
"""
