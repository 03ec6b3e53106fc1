"""Unzipped size of each function with its layers in `sam build` output (Lambda's limit: 250 MB)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

LAMBDA_LIMIT_MB = 250.0


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def tree_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                total += os.path.getsize(full)
    return total / (1 << 20)


@dataclass
class Bundle:
    function: str
    code_mb: float
    layers_mb: dict[str, float]

    @property
    def total_mb(self) -> float:
        return self.code_mb + sum(self.layers_mb.values())


def bundle_sizes(build_dir: Path = Path(".aws-sam/build")) -> list[Bundle]:
    """Sizes of every function in ``build_dir`` (the output of `sam build`) with the layers it references.

    Paths in the built template are relative to it: built layers point into build_dir, layers SAM does
    not build (plain folders such as the pipelines layer) point back at the source tree.
    """
    resources = yaml.load((build_dir / "template.yaml").read_text(), Loader=_Loader)["Resources"]
    bundles = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        layers = {
            ref["Ref"]: tree_mb(build_dir / resources[ref["Ref"]]["Properties"]["ContentUri"])
            for ref in properties.get("Layers", [])
            if isinstance(ref, dict) and "Ref" in ref
        }
        bundles.append(Bundle(name, tree_mb(build_dir / properties["CodeUri"]), layers))
    return bundles
