"""glue/pipeline_step.py, the job's entry point on Glue: it fetches the very layer versions ConvertFunction runs
(the library and the pipelines) through the Lambda API, as the deployed job does, from a stand-in Lambda endpoint."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
LIBRARY_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:lake-lakehouse:7"
PIPELINES_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:lake-pipelines:3"


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return buffer.getvalue()


@pytest.fixture
def lambda_endpoint() -> Iterator[tuple[str, list[str]]]:
    """GetLayerVersionByArn answered as Lambda does (a presigned Content.Location), and the zips behind it."""
    library = {f"python/lakehouse/{p.relative_to(REPO / 'layers/lakehouse/lakehouse')}": p.read_bytes()
               for p in (REPO / "layers/lakehouse/lakehouse").glob("*.py")}
    pipelines = {p.relative_to(REPO / "pipelines").as_posix(): p.read_bytes()
                 for p in (REPO / "pipelines/stedi").rglob("*") if p.is_file()}
    zips = {LIBRARY_ARN: _zip(library), PIPELINES_ARN: _zip(pipelines)}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/2018-10-31/layers":
                arn = parse_qs(url.query)["Arn"][0]
                asked.append(arn)
                body = json.dumps({"LayerVersionArn": arn, "Version": int(arn.rsplit(":", 1)[1]),
                                   "Content": {"Location": f"http://127.0.0.1:{self.server.server_port}/zip/{arn}",
                                               "CodeSize": len(zips[arn])}}).encode()
            else:
                body = zips[url.path.removeprefix("/zip/")]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()


def _entry() -> Any:
    spec = importlib.util.spec_from_file_location("glue_entry", REPO / "glue" / "pipeline_step.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_job_unpacks_the_layer_versions_it_is_given(lambda_endpoint, tmp_path, monkeypatch) -> None:
    endpoint, asked = lambda_endpoint
    client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = ["--JOB_NAME", "j", "--library-layer", LIBRARY_ARN, "--pipelines-layer", PIPELINES_ARN]
    pipelines = _entry().install_layers(argv, client, str(tmp_path))
    assert asked == [LIBRARY_ARN, PIPELINES_ARN]
    assert (Path(pipelines) / "stedi" / "pipeline.yaml").read_bytes() == (REPO / "pipelines/stedi/pipeline.yaml"
                                                                          ).read_bytes()
    library = Path(sys.path[0])
    assert library == tmp_path / "library" / "python" and (library / "lakehouse" / "glue_job.py").is_file()
    spec = importlib.util.spec_from_file_location("unpacked_lakehouse", library / "lakehouse" / "__init__.py")
    assert spec is not None  # the unpacked folder is an importable package


def test_where_the_library_is_importable_nothing_is_fetched(lambda_endpoint) -> None:
    endpoint, asked = lambda_endpoint
    client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
    assert _entry().locate(["--library-layer", LIBRARY_ARN], client) is None and asked == []
