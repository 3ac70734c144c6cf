"""Parsing and validating YAML backbone specs (schema: search_spaces/README.md).

Values come from `yaml.safe_load`; a second, node-level pass (`yaml.compose`, which builds no
Python objects) finds line numbers for error messages.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from bottleneck_search.errors import SearchSpaceError
from bottleneck_search.space import blocks as B
from bottleneck_search.space.backbone import Backbone
from bottleneck_search.space.site import DEFAULT_ROUND_TO, ReductionOptions, is_activation_name

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
MAX_SPATIAL = 4096
MAX_SPEC_BYTES = 1_000_000
MAX_CHANNELS = 16384

TOP_KEYS = {"name", "description", "input_shape", "classes", "defaults", "layers"}
DEFAULT_KEYS = {"widths", "round_to", "batch_norm", "activation", "reduction"}
REDUCTION_KEYS = {"activation", "batch_norm", "use_bias"}
BLOCK_KEYS = {
    "conv": {
        "name",
        "filters",
        "kernel",
        "strides",
        "padding",
        "activation",
        "batch_norm",
        "searchable",
        "widths",
        "reference",
    },
    "pool": {"name", "type", "size", "strides", "padding"},
    "global_pool": {"name", "type"},
    "flatten": {"name"},
    "dropout": {"name", "rate"},
    "dense": {"name", "units", "activation"},
    "residual": {"name", "filters", "strides", "widths"},
    "inception": {"name", "1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj", "widths"},
}


def load_backbone(path: str | os.PathLike) -> Backbone:
    """Reads and validates a YAML backbone spec.

    Args:
        path: the YAML file.

    Returns:
        The `Backbone`.

    Raises:
        SearchSpaceError: the file is missing, is not YAML, or breaks the schema; the message
            names the file and line.

    Example:

    ```python
    backbone = load_backbone("search_spaces/inception_mini.yaml")
    print([site.name for site in backbone.sites()])
    ```
    """
    path = os.fspath(path)
    try:
        if os.path.getsize(path) > MAX_SPEC_BYTES:
            raise SearchSpaceError(
                f"Search space file '{path}' is over {MAX_SPEC_BYTES:,} bytes; a backbone spec is a few "
                "kilobytes. Check the path."
            )
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise SearchSpaceError(
            f"Search space file '{path}' does not exist. Check the path."
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SearchSpaceError(f"Search space file '{path}' could not be read: {error}.") from error
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SearchSpaceError(
            f"{path}{line}: not valid YAML ({getattr(error, 'problem', error)})."
        ) from error
    parser = _SpecParser(path, root)
    backbone = parser.backbone(data)
    return dataclasses.replace(
        backbone, source=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


class _SpecParser:
    def __init__(self, path: str, root: yaml.Node | None):
        self.path = path
        self.root = root

    # -- error reporting -------------------------------------------------------------------
    def _line(self, where: tuple) -> int | None:
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for step in where:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if key.value == step:
                        line, node = key.start_mark.line + 1, value
                        break
                else:
                    return line
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(step, int)
                and step < len(node.value)
            ):
                node = node.value[step]
                line = node.start_mark.line + 1
            else:
                return line
        return line

    def where(self, path: tuple) -> str:
        line = self._line(path)
        return f"{self.path}:{line}: " if line is not None else f"{self.path}: "

    def fail(self, path: tuple, message: str) -> SearchSpaceError:
        return SearchSpaceError(self.where(path) + message)

    # -- typed readers ---------------------------------------------------------------------
    def mapping(self, value: Any, path: tuple, allowed: set[str], what: str) -> Mapping:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(
                path, f"{what} must be a mapping of keys to values. Received: {value!r}."
            )
        for key in value:
            if key not in allowed:
                raise self.fail(
                    (*path, key),
                    f"unknown key '{key}' in {what}; allowed keys: {', '.join(sorted(allowed))}.",
                )
        return value

    def get(
        self,
        data: Mapping,
        key: str,
        path: tuple,
        check: Callable[[Any], bool],
        expected: str,
        default=None,
        required=False,
    ):
        if key not in data or data[key] is None:
            if required:
                raise self.fail(path, f"missing required key '{key}' ({expected}).")
            return default
        value = data[key]
        if not check(value):
            raise self.fail((*path, key), f"'{key}' must be {expected}. Received: {value!r}.")
        return value

    def positive_int(self, data, key, path, default=None, required=False, limit=MAX_CHANNELS):
        return self.get(
            data,
            key,
            path,
            lambda v: _is_int(v) and 1 <= v <= limit,
            f"an integer from 1 to {limit}",
            default,
            required,
        )

    def boolean(self, data, key, path, default):
        return self.get(data, key, path, lambda v: isinstance(v, bool), "true or false", default)

    def choice(self, data, key, path, options, default):
        return self.get(
            data, key, path, lambda v: v in options, f"one of {', '.join(options)}", default
        )

    def text(self, data, key, path, default=None):
        return self.get(
            data,
            key,
            path,
            lambda v: isinstance(v, str) and v.strip() != "",
            "a non-empty string",
            default,
        )

    def activation_name(self, data, path, default):
        return self.get(
            data,
            "activation",
            path,
            is_activation_name,
            "a Keras activation name (e.g. relu, swish, linear)",
            default,
        )

    def name(self, data, path, default):
        value = self.get(
            data,
            "name",
            path,
            lambda v: isinstance(v, str) and bool(NAME_PATTERN.match(v)),
            "a name of letters, digits, '_', '.', '-' starting with a letter (at most 64 characters)",
            default,
        )
        return value

    def widths(self, data, path, default):
        value = self.get(
            data,
            "widths",
            path,
            lambda v: isinstance(v, list) and len(v) > 0,
            "a non-empty list of channel counts or fractions, e.g. [0.25, 0.5]",
            default,
        )
        return None if value is None else tuple(value)

    # -- the spec --------------------------------------------------------------------------
    def backbone(self, data: Any) -> Backbone:
        top = self.mapping(data, (), TOP_KEYS, "the top level")
        name = self.name(top, (), None)
        if name is None:
            raise self.fail((), "missing required key 'name' (a name for the network).")
        shape = self.get(
            top,
            "input_shape",
            (),
            lambda v: (
                isinstance(v, list)
                and len(v) == 3
                and all(_is_int(d) and 1 <= d <= MAX_SPATIAL for d in v)
            ),
            f"[height, width, channels] with each from 1 to {MAX_SPATIAL}",
            required=True,
        )
        classes = self.positive_int(top, "classes", (), required=True, limit=100_000)
        defaults = self.mapping(top.get("defaults"), ("defaults",), DEFAULT_KEYS, "'defaults'")
        dpath = ("defaults",)
        self.default_widths = self.widths(defaults, dpath, None)
        self.round_to = self.positive_int(
            defaults, "round_to", dpath, default=DEFAULT_ROUND_TO, limit=1024
        )
        self.batch_norm = self.boolean(defaults, "batch_norm", dpath, False)
        self.activation = self.activation_name(defaults, dpath, "relu")
        rpath = ("defaults", "reduction")
        reduction_data = self.mapping(
            defaults.get("reduction"), rpath, REDUCTION_KEYS, "'defaults.reduction'"
        )
        reduction = ReductionOptions(
            activation=self.activation_name(reduction_data, rpath, "relu"),
            batch_norm=self.boolean(reduction_data, "batch_norm", rpath, False),
            use_bias=self.boolean(reduction_data, "use_bias", rpath, True),
        )
        layers = top.get("layers")
        if not isinstance(layers, list) or not layers:
            raise self.fail(("layers",), "'layers' must be a non-empty list of blocks.")
        blocks = [self.block(item, ("layers", i), i) for i, item in enumerate(layers)]
        self._check_unique_names(blocks)
        backbone = Backbone(
            name=name,
            input_shape=tuple(shape),
            classes=classes,
            blocks=tuple(blocks),
            reduction=reduction,
        )
        self._check_shapes(backbone)
        return backbone

    def block(self, item: Any, path: tuple, index: int):
        if not isinstance(item, Mapping) or len(item) != 1:
            raise self.fail(
                path,
                f"each entry of 'layers' must be one block such as '- conv: {{filters: 32, kernel: 3}}'; known block types: {', '.join(BLOCK_KEYS)}.",
            )
        ((kind, params),) = item.items()
        if kind not in BLOCK_KEYS:
            raise self.fail(
                path, f"unknown block type '{kind}'; known block types: {', '.join(BLOCK_KEYS)}."
            )
        bpath = (*path, kind)
        params = self.mapping(params, bpath, BLOCK_KEYS[kind], f"{kind} block")
        name = self.name(params, bpath, f"{kind}{index}")
        options = B.SiteOptions(
            widths=self.widths(params, bpath, self.default_widths), round_to=self.round_to
        )
        where = self.where(bpath)
        if kind == "conv":
            kernel = self.get(
                params,
                "kernel",
                bpath,
                _is_kernel,
                "an odd or even size from 1 to 15, or [height, width]",
                required=True,
            )
            conv = B.ConvSpec(
                name=name,
                filters=self.positive_int(params, "filters", bpath, required=True),
                kernel=(kernel, kernel) if _is_int(kernel) else tuple(kernel),
                strides=self.positive_int(params, "strides", bpath, default=1, limit=16),
                padding=self.choice(params, "padding", bpath, ("same", "valid"), "same"),
                activation=self.activation_name(params, bpath, self.activation),
                batch_norm=self.boolean(params, "batch_norm", bpath, self.batch_norm),
                searchable=self.boolean(params, "searchable", bpath, True),
                reference=self.positive_int(params, "reference", bpath),
            )
            return B.ConvBlock(conv=conv, options=options, where=where)
        if kind == "pool":
            size = self.positive_int(params, "size", bpath, default=2, limit=64)
            return B.PoolBlock(
                name=name,
                kind=self.choice(params, "type", bpath, ("max", "avg"), "max"),
                size=size,
                strides=self.positive_int(params, "strides", bpath, default=size, limit=64),
                padding=self.choice(params, "padding", bpath, ("same", "valid"), "valid"),
            )
        if kind == "global_pool":
            return B.GlobalPoolBlock(
                name=name, kind=self.choice(params, "type", bpath, ("avg", "max"), "avg")
            )
        if kind == "flatten":
            return B.FlattenBlock(name=name)
        if kind == "dropout":
            rate = self.get(
                params,
                "rate",
                bpath,
                lambda v: _is_number(v) and 0 <= v < 1,
                "a number in [0, 1)",
                required=True,
            )
            return B.DropoutBlock(name=name, rate=float(rate))
        if kind == "dense":
            return B.DenseBlock(
                name=name,
                units=self.positive_int(params, "units", bpath, required=True),
                activation=self.activation_name(params, bpath, self.activation),
            )
        if kind == "residual":
            return B.ResidualBlock(
                name=name,
                filters=self.positive_int(params, "filters", bpath, required=True),
                strides=self.positive_int(params, "strides", bpath, default=1, limit=16),
                options=options,
                where=where,
            )

        # inception
        def branch(key_reduce: str, key_conv: str, size: int) -> B.ConvSpec:
            return B.ConvSpec(
                name=f"{name}_{key_conv}",
                filters=self.positive_int(params, key_conv, bpath, required=True),
                kernel=(size, size),
                activation=self.activation,
                batch_norm=self.batch_norm,
                reference=self.positive_int(params, key_reduce, bpath),
            )

        return B.InceptionBlock(
            name=name,
            b1x1=self.positive_int(params, "1x1", bpath, required=True),
            b3x3=branch("3x3_reduce", "3x3", 3),
            b5x5=branch("5x5_reduce", "5x5", 5),
            pool_proj=self.positive_int(params, "pool_proj", bpath, required=True),
            batch_norm=self.batch_norm,
            options=options,
            where=where,
        )

    def _check_unique_names(self, blocks: list) -> None:
        seen: dict[str, int] = {}
        for index, block in enumerate(blocks):
            name = block.name
            if name in seen:
                raise self.fail(
                    ("layers", index),
                    f"block name '{name}' is used twice (first at layers[{seen[name]}]); names must be unique.",
                )
            seen[name] = index

    def _check_shapes(self, backbone: Backbone) -> None:
        shape = backbone.input_shape
        for index, block in enumerate(backbone.blocks):
            shape = block.trace(shape, [])
            if any(d < 1 for d in shape):
                raise self.fail(
                    ("layers", index),
                    f"this block shrinks the feature map to nothing (shape {shape}); use padding: same, smaller strides or a larger input_shape.",
                )
            if (
                isinstance(block, B.ConvBlock | B.ResidualBlock | B.InceptionBlock | B.PoolBlock)
                and len(shape) != 3
            ):
                raise self.fail(
                    ("layers", index),
                    "a spatial block comes after the feature map was flattened; move global_pool/flatten after it.",
                )
        if len(shape) != 1:
            raise self.fail(
                ("layers",),
                "the last block must reduce the feature map to a vector: end with global_pool or flatten (then optional dense/dropout).",
            )
        for site in backbone.sites():
            if site.reference is not None and site.reference > site.in_channels:
                raise self.fail(
                    ("layers",),
                    f"site '{site.name}': reference width {site.reference} exceeds its {site.in_channels} input channels.",
                )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_kernel(value: Any) -> bool:
    if _is_int(value):
        return 1 <= value <= 15
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(_is_int(v) and 1 <= v <= 15 for v in value)
    )
