"""`lakehouse graph`: the pipeline's DAG from the model, as Mermaid and as a standalone SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from lakehouse.pipeline import Lake
from lakehouse_local import graph
from lakehouse_local.cli import main

from .conftest import REPO


def _edges(text: str) -> set[tuple[str, str]]:
    return set(re.findall(r"^  (\w+) --> (\w+)$", text, re.MULTILINE))


def test_graph_prints_the_stedi_dag_as_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--pipeline", "stedi", "--format", "mermaid"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("flowchart LR\n")
    for zone in ("landing", "raw", "trusted", "curated"):
        assert f'  subgraph {zone}["' in text
    edges = _edges(text)
    assert ("landing_stedi_customer", "raw_customer_landing") in edges  # data set -> raw table
    assert ("raw_customer_landing", "trusted_customer_trusted") in edges  # raw table -> step
    assert ("trusted_customer_trusted", "trusted_accelerometer_trusted") in edges  # step -> step (its SQL reads it)
    assert ("trusted_step_trainer_trusted", "curated_machine_learning_curated") in edges
    # every dependency of the model is an edge, and nothing else between steps
    lake = Lake.load(REPO / "pipelines")
    pipeline = lake.pipeline("stedi")
    expected = {(f"{pipeline.step(d).zone}_{d}", f"{s.zone}_{s.name}") for s in pipeline.steps
                for d in lake.dependencies(pipeline, s)}
    assert {e for e in edges if not e[0].startswith(("landing_", "raw_"))} == expected
    # quality gates: each step's expectations, attached to it
    assert "  trusted_customer_trusted -.- trusted_customer_trusted_gate" in text
    assert "✓ unique(email)" in text and "✓ row_count(min=1)" in text
    assert "merge on user, timestamp, incremental" in text


def test_a_step_reading_another_pipelines_table_shows_that_table() -> None:
    lake = Lake.load(REPO / "pipelines")
    picture = graph.build(lake, lake.pipeline("weblogs"))
    assert ("raw_zipcodes", "curated_page_views_by_state") in picture.edges
    assert {n.kind for n in picture.nodes.values()} == {"dataset", "table", "step"}


def test_the_svg_is_well_formed_with_a_box_per_node_and_a_path_per_edge(tmp_path: object) -> None:
    lake = Lake.load(REPO / "pipelines")
    picture = graph.build(lake, lake.pipeline("stedi"))
    root = ET.fromstring(graph.svg(picture))
    ns = "{http://www.w3.org/2000/svg}"
    boxes = [r for r in root.iter(f"{ns}rect") if r.get("rx")]
    assert len(boxes) == len(picture.nodes)
    assert len([p for p in root.iter(f"{ns}path") if p.get("marker-end")]) == len(picture.edges)
    texts = {t.text for t in root.iter(f"{ns}text")}
    assert {"customer_trusted", "machine_learning_curated", "quality gate:"} <= texts


def test_an_unknown_pipeline_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--pipeline", "nope"]) == 2
    assert "lakehouse new pipeline nope" in capsys.readouterr().err


def test_the_readme_pictures_are_the_pipelines_as_they_are() -> None:
    """README "The example pipelines": each picture marked `<!-- lakehouse graph --pipeline P -->` is today's
    output (regenerate with `lakehouse graph --pipeline P`)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"<!-- lakehouse graph --pipeline (\w+) -->\n```mermaid\n(.*?)```\n", readme, re.DOTALL)
    assert {name for name, _ in shown} >= {"stedi", "weblogs"}
    lake = Lake.load(REPO / "pipelines")
    for name, picture in shown:
        assert picture == graph.mermaid(graph.build(lake, lake.pipeline(name))), f"README picture of {name} is stale"
