"""`sam build` output as Lambda sees it: each function's unzipped size with its layers (Lambda's limit is
250 MB), and a PYTHONPATH that lays the function out as the python3.11 runtime would (for import checks)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

LAMBDA_LIMIT_MB = 250.0


def _resources(build_dir: Path) -> dict:
    from samtranslator.yaml_helper import yaml_parse  # the parser SAM CLI itself uses

    return yaml_parse((build_dir / "template.yaml").read_text(encoding="utf-8"))["Resources"]


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
    resources = _resources(build_dir)
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


# What the python3.11 runtime provides besides the layers (layers/dependencies/Makefile prunes these).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")


def lambda_pythonpath(build_dir: Path, function: str, scratch: Path) -> str:
    """PYTHONPATH for ``python -S``: the built function, its layers' python/ folders, and links to the
    runtime's own packages (taken from this interpreter) in ``scratch``; nothing else of this environment."""
    build_dir = build_dir.resolve()
    runtime = scratch / "lambda-runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name.removesuffix(".py"))
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed in this environment (make setup installs it)")
        origin = Path(spec.origin)
        source = origin if name.endswith(".py") else origin.parent
        link = runtime / source.name
        if not link.exists():
            link.symlink_to(source)
    resources = _resources(build_dir)
    properties = resources[function]["Properties"]
    paths = [build_dir / properties["CodeUri"]]
    for ref in properties.get("Layers", []):
        layer = build_dir / resources[ref["Ref"]]["Properties"]["ContentUri"] / "python"
        if layer.is_dir():
            paths.append(layer)
    return os.pathsep.join([str(p) for p in paths] + [str(runtime)])
