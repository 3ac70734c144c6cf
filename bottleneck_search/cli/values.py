"""Argument types of the `bottleneck-search` parser (each turns text into a value or refuses it
with what was expected), and the data flags `search` and `compress` share.

The types parse; they do not check ranges. A value is checked once, by the object it goes to
(`SearchConfig`, `CompressConfig`, ...; see `argument_validation`), and `main` names the flag
when that check refuses it. Choices (`--tuner`, `--cost`, ...) are argparse `choices` drawn from
the library's own tables, so `--help` lists them."""

from __future__ import annotations

import argparse
import math


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 224,224,3, got '{text}'"
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise argparse.ArgumentTypeError(f"dimensions must be positive, got '{text}'")
    return shape


def number_parser(convert, expected: str):
    """An argparse `type` that turns text into a number, `convert(text)`, or refuses it as
    "expected ..."; the value's range is checked once, by the object it goes to (see
    `argument_validation`), and the CLI names the flag when that refuses it."""

    def parse(text: str):
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'") from None

    return parse


integer = number_parser(int, "an integer")
number = number_parser(float, "a number")


def macs_count(text: str) -> int:
    """Parses 5000000, 5e6, 5M or 1.5G."""
    scale = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}.get(text[-1:].upper(), 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a MAC count like 5000000, 5e6, 5M or 1.5G, got '{text}'"
        ) from None
    return int(value) if math.isfinite(value) else value


def parse_widths(text: str) -> tuple:
    """Parses 0.25,0.5,16: fractions of a site's input channels (with a point) or counts."""
    try:
        widths = tuple(float(w) if "." in w else int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated fractions or channel counts like 0.25,0.5,16, got '{text}'"
        ) from None
    return widths


def add_data_arguments(parser: argparse.ArgumentParser, defaults) -> None:
    """Adds `--dataset`, `--train-size`, `--seed`, `--batch-size`, `--data-dir`, `--download`,
    with `defaults` (a `SearchConfig` or `CompressConfig`) giving their default values."""
    parser.add_argument(
        "--dataset",
        default=defaults.dataset,
        help=f"{defaults.dataset} (default), fashion_mnist, mnist, cifar10, cifar100, "
        "tfds:NAME[SPLIT] or folder:PATH",
    )
    parser.add_argument(
        "--train-size",
        type=integer,
        metavar="N",
        help="train and validate on a stratified, seeded subsample of N training images",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--batch-size", type=integer, default=defaults.batch_size)
    parser.add_argument(
        "--data-dir",
        help="where to look first for fashion_mnist, mnist, cifar10, cifar100; TFDS' data directory",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="let keras.datasets or TFDS download a data set that is not on disk",
    )


def add_task_arguments(parser: argparse.ArgumentParser, defaults) -> None:
    """Adds `--loss`, `--metric`, `--input-range`: what a model is trained and scored with, and
    the pixel range it is fed (see `training`), overriding what is read from the model."""
    parser.add_argument(
        "--loss",
        metavar="NAME",
        help="a Keras loss name, instead of the model's compiled loss or what its output implies",
    )
    parser.add_argument(
        "--metric",
        metavar="NAME",
        help="a Keras metric name that scores architectures (default: accuracy for classifiers)",
    )
    parser.add_argument(
        "--input-range",
        choices=("auto", "unit", "raw"),
        default=defaults.input_range,
        help="pixels fed in [0, 1] (unit) or 0-255 (raw); auto (default): raw for a model that "
        "rescales its input itself (Rescaling, Normalization)",
    )
