"""pyiceberg's file IO for the local S3: pyarrow reads, each write is one boto3 PUT.

Emulation only. Arrow's S3 client writes every file as a multipart upload, and with moto 5.2.1 its
CompleteMultipartUpload fails ("error embedded in a 200 OK response"), so the local Athena stand-in could not write
Iceberg files. Metadata and data files of a local presentation table are small: each is buffered and sent with one
PutObject instead. Reads and deletes stay pyarrow's.
"""

from __future__ import annotations

import io
from typing import Any

from pyiceberg.io import InputFile, OutputFile, OutputStream
from pyiceberg.io.pyarrow import PyArrowFileIO


class _Upload(io.BytesIO):
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key

    def close(self) -> None:
        if not self.closed:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=self.getvalue())
        super().close()


class _PutFile(OutputFile):
    def __init__(self, location: str, io_impl: BotoPutFileIO) -> None:
        super().__init__(location)
        self._io = io_impl
        self._bucket, _, self._key = location.split("://", 1)[1].partition("/")

    def __len__(self) -> int:
        return len(self.to_input_file())

    def exists(self) -> bool:
        return self.to_input_file().exists()

    def to_input_file(self) -> InputFile:
        return self._io.new_input(self.location)

    def create(self, overwrite: bool = False) -> OutputStream:
        if not overwrite and self.exists():
            raise FileExistsError(f"{self.location} exists")
        return _Upload(self._io.s3_client(), self._bucket, self._key)


class BotoPutFileIO(PyArrowFileIO):
    """``py-io-impl`` = ``lakehouse_local.iceberg_io.BotoPutFileIO`` with the usual ``s3.*`` properties."""

    _client: Any = None

    def s3_client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "s3", endpoint_url=self.properties.get("s3.endpoint"), region_name=self.properties.get("s3.region"),
                aws_access_key_id=self.properties.get("s3.access-key-id"),
                aws_secret_access_key=self.properties.get("s3.secret-access-key"),
            )
        return self._client

    # pyiceberg reads only through a PyArrowFileIO (it asks for its Arrow file systems), so this is a subclass, and
    # its writes return our OutputFile where the base class declares its own PyArrowFile.
    def new_output(self, location: str) -> OutputFile:  # type: ignore[override]
        if not location.startswith("s3://"):
            return super().new_output(location)
        return _PutFile(location, self)
