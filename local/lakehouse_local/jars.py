"""The JVM libraries local Spark needs to run the Glue job as Glue 5.0 does, fetched once from Maven Central.

Glue 5.0 brings Iceberg 1.7.1 (``--datalake-formats iceberg``) and reads S3 through its own connector. Locally the
same Iceberg runtime and its AWS bundle (GlueCatalog, S3FileIO) are used against the local AWS, and ``s3://`` paths
go through Hadoop's S3A connector, whose version must match the Hadoop client that pyspark ships (3.3.4 for
Spark 3.5). ``make setup`` runs ``python -m lakehouse_local.jars`` once; each jar is checked against its SHA-1, and a
jar already present is not downloaded again.

    python -m lakehouse_local.jars            # download what is missing, print the classpath
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

MAVEN = os.environ.get("LAKEHOUSE_MAVEN_REPOSITORY", "https://repo1.maven.org/maven2")
JAR_DIR = Path(os.environ.get("LAKEHOUSE_SPARK_JAR_DIR", Path(sys.prefix) / "spark-jars"))


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    sha1: str

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    @property
    def url(self) -> str:
        return f"{MAVEN}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"


JARS = (
    Jar("org.apache.iceberg", "iceberg-spark-runtime-3.5_2.12", "1.7.1", "03c97e0cf547c21ef1fe5c735a2bc306340ec785"),
    Jar("org.apache.iceberg", "iceberg-aws-bundle", "1.7.1", "b7c2c63a1046479da456478800b3fed18346dc4c"),
    Jar("org.apache.hadoop", "hadoop-aws", "3.3.4", "a65839fbf1869f81a1632e09f415e586922e4f80"),
    Jar("com.amazonaws", "aws-java-sdk-bundle", "1.12.262", "02deec3a0ad83d13d032b1812421b23d7a961eea"),
)


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure(directory: Path = JAR_DIR, out: TextIO = sys.stderr) -> list[Path]:
    """Every jar in ``directory``, downloading the missing ones; raises when a download is not what Maven lists."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for jar in JARS:
        path = directory / jar.file_name
        if not path.is_file():
            print(f"downloading {jar.url}", file=out, flush=True)
            partial = path.with_suffix(".part")
            with urllib.request.urlopen(jar.url, timeout=300) as response, partial.open("wb") as handle:
                while block := response.read(1 << 20):
                    handle.write(block)
            if _sha1(partial) != jar.sha1:
                partial.unlink()
                raise RuntimeError(f"{jar.url}: SHA-1 differs from {jar.sha1}; not used")
            partial.rename(path)
        paths.append(path)
    return paths


def classpath(directory: Path = JAR_DIR) -> str:
    """The comma-separated jar list for ``spark.jars`` (downloading what is missing)."""
    return ",".join(str(p) for p in ensure(directory))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse_local.jars", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=JAR_DIR, help=f"where the jars live (default {JAR_DIR})")
    args = parser.parse_args(argv)
    print(classpath(args.dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
