"""ONNX export of a trained model, checked against Keras in ONNX Runtime before it is kept.

Keras writes the ONNX file (`model.export(path, format="onnx")`, through tf2onnx on the
TensorFlow backend); ONNX Runtime then runs it on the run's validation images, and the export is
refused unless its predictions agree with Keras' to float tolerance. Both libraries are the
optional extra `pip install 'bottleneck-search[onnx]'`.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from bottleneck_search.errors import ResultsError

ONNX_FILE = "model.onnx"
# Largest difference between ONNX Runtime's and Keras' outputs (softmax probabilities) accepted.
TOLERANCE = 1e-4
# Validation images the check runs at most.
CHECK_IMAGES = 256


def validation_images(val, limit: int = CHECK_IMAGES) -> np.ndarray:
    """Up to `limit` images of a batched `(image, label)` validation pipeline, as one array."""
    images, count = [], 0
    for batch, _ in val:
        images.append(np.asarray(batch))
        count += len(images[-1])
        if count >= limit:
            break
    return np.concatenate(images)[:limit].astype(np.float32)


def write_onnx(model: keras.Model, folder: str, images: np.ndarray) -> dict:
    """Writes `<folder>/model.onnx` and checks it in ONNX Runtime against `model` on `images`.

    Returns:
        `{"file", "images", "max_abs_difference"}` for the export's listing.

    Raises:
        ResultsError: ONNX Runtime's predictions differ from Keras' by more than `TOLERANCE`.
    """
    import onnxruntime

    expected = model.predict(images, verbose=0)  # also marks the model as called, as Keras needs
    path = os.path.join(folder, ONNX_FILE)
    model.export(path, format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (predicted,) = session.run(None, {session.get_inputs()[0].name: images})
    difference = float(np.max(np.abs(predicted - expected)))
    if not difference <= TOLERANCE:
        raise ResultsError(
            f"The ONNX model in '{path}' disagrees with Keras on the validation images (largest "
            f"difference {difference:.3g}, tolerance {TOLERANCE:g}); it was not exported. Report "
            "the model's layers to the bottleneck-search issue tracker."
        )
    return {"file": ONNX_FILE, "images": len(images), "max_abs_difference": difference}
