"""YAML backbones: the spec file read without trusting it (`yaml_spec`), one registered class per
block kind (`blocks`, `composite_blocks`), and the Keras model built from a spec (`backbone`)."""
