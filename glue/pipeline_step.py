"""Entry point of the generic Glue job: bring in the library and the pipelines, then run one SQL step.

Glue runs this file (the job's ``Command.ScriptLocation``, uploaded by ``sam deploy``). What it runs is not here:
the library (``lakehouse``) and the pipeline definitions are the Lambda layers the same deployment published
(``--library-layer``, ``--pipelines-layer``), the layers ConvertFunction runs. The job downloads those exact layer
versions (``lambda:GetLayerVersionByArn``), so the converter and the Glue steps always read the same contracts,
steps and types: one artifact, one channel, no separate upload that could drift. The library's third-party
packages come from ``--additional-python-modules``.

Where ``lakehouse`` is importable already (a laptop, the local stack, the tests), nothing is downloaded.
"""
from __future__ import annotations

import importlib.util
import io
import os
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Sequence
from typing import Any


def _argument(argv: Sequence[str], name: str) -> str:
    for index, value in enumerate(argv[:-1]):
        if value == name:
            return argv[index + 1]
    return ""


def fetch_layer(arn: str, target: str, lambda_client: Any = None) -> str:
    """Unpack the layer version ``arn`` into ``target`` and return that folder."""
    if lambda_client is None:
        import boto3

        lambda_client = boto3.client("lambda")
    location = lambda_client.get_layer_version_by_arn(Arn=arn)["Content"]["Location"]  # a presigned URL
    with urllib.request.urlopen(location, timeout=120) as response:
        zipfile.ZipFile(io.BytesIO(response.read())).extractall(target)
    return target


def install_layers(argv: Sequence[str], lambda_client: Any = None, root: str | None = None) -> str:
    """Unpack the library and pipelines layers named by the arguments, put the library on ``sys.path`` and return
    the pipelines folder."""
    root = root or tempfile.mkdtemp(prefix="lakehouse-layers-")
    library = fetch_layer(_argument(argv, "--library-layer"), os.path.join(root, "library"), lambda_client)
    sys.path.insert(0, os.path.join(library, "python"))  # a layer's Python packages live under python/
    return fetch_layer(_argument(argv, "--pipelines-layer"), os.path.join(root, "pipelines"), lambda_client)


def locate(argv: Sequence[str], lambda_client: Any = None) -> str | None:
    """Make ``lakehouse`` importable and return the pipelines folder (None: the caller's default)."""
    if importlib.util.find_spec("lakehouse") is None:
        return install_layers(argv, lambda_client)
    return None


def main(argv: Sequence[str], spark: Any = None, pipelines_dir: str | None = None, out: Any = None) -> int:
    pipelines = locate(argv) or pipelines_dir
    from lakehouse.glue_job import main as run_step

    return run_step(argv, spark=spark, pipelines_dir=pipelines, out=out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
