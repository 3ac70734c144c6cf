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

from bottleneck_search import limits
from bottleneck_search.errors import SearchSpaceError

# Importing the module registers the multi-layer block kinds.
from bottleneck_search.space.backbones import composite_blocks as _composite_blocks  # noqa: F401
from bottleneck_search.space.backbones.backbone import Backbone
from bottleneck_search.space.backbones.blocks import BLOCK_KINDS, SiteOptions
from bottleneck_search.space.site import DEFAULT_ROUND_TO, ReductionOptions, is_activation_name

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

TOP_KEYS = {"name", "description", "input_shape", "classes", "defaults", "layers"}
DEFAULT_KEYS = {"widths", "round_to", "batch_norm", "activation", "reduction"}
REDUCTION_KEYS = {"activation", "batch_norm", "use_bias"}


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
        if os.path.getsize(path) > limits.MAX_FILE_BYTES:
            raise SearchSpaceError(limits.file_too_large("Search space file", path))
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

    def positive_int(
        self, data, key, path, default=None, required=False, limit=limits.MAX_CHANNELS
    ):
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
                and all(_is_int(d) and 1 <= d <= limits.MAX_SPATIAL for d in v)
            ),
            f"[height, width, channels] with each from 1 to {limits.MAX_SPATIAL}",
            required=True,
        )
        classes = self.positive_int(top, "classes", (), required=True, limit=limits.MAX_CLASSES)
        defaults = self.mapping(top.get("defaults"), ("defaults",), DEFAULT_KEYS, "'defaults'")
        dpath = ("defaults",)
        self.default_widths = self.widths(defaults, dpath, None)
        self.round_to = self.positive_int(
            defaults, "round_to", dpath, default=DEFAULT_ROUND_TO, limit=limits.MAX_ROUND_TO
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
        known = ", ".join(BLOCK_KINDS)
        if not isinstance(item, Mapping) or len(item) != 1:
            raise self.fail(
                path,
                f"each entry of 'layers' must be one block such as '- conv: {{filters: 32, kernel: 3}}'; known block types: {known}.",
            )
        ((kind, params),) = item.items()
        if kind not in BLOCK_KINDS:
            raise self.fail(path, f"unknown block type '{kind}'; known block types: {known}.")
        block_class = BLOCK_KINDS[kind]
        bpath = (*path, kind)
        params = self.mapping(params, bpath, block_class.KEYS, f"{kind} block")
        options = SiteOptions(
            widths=self.widths(params, bpath, self.default_widths),
            round_to=self.round_to,
            where=self.where(bpath),
        )
        name = self.name(params, bpath, f"{kind}{index}")
        return block_class.parse(BlockMapping(self, params, bpath, name, options))

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
            if block.spatial and len(shape) != 3:
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


@dataclasses.dataclass(frozen=True)
class BlockMapping:
    """One block's YAML mapping, with typed readers that report errors at its file and line
    (the `blocks.BlockParams` a block kind's `parse` reads).

    Attributes:
        spec: the file's parser (its `defaults` are `spec.activation`, `spec.batch_norm`).
        params: the block's keys and values (already checked against the kind's `KEYS`).
        path: where the block is in the document, for line numbers.
        name: the block's name (given, or `<kind><index>`).
        site_options: the widths and rounding its sites offer.
    """

    spec: _SpecParser
    params: Mapping
    path: tuple
    name: str
    site_options: SiteOptions

    @property
    def defaults(self) -> _SpecParser:
        return self.spec

    def get(self, key: str, check, expected: str, default=None, required: bool = False):
        return self.spec.get(self.params, key, self.path, check, expected, default, required)

    def positive_int(self, key, default=None, required=False, limit=limits.MAX_CHANNELS):
        return self.spec.positive_int(self.params, key, self.path, default, required, limit)

    def boolean(self, key: str, default: bool) -> bool:
        return self.spec.boolean(self.params, key, self.path, default)

    def choice(self, key: str, options: tuple, default):
        return self.spec.choice(self.params, key, self.path, options, default)

    def activation(self, default: str) -> str:
        return self.spec.activation_name(self.params, self.path, default)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
