"""The conversion benchmark of issues 6 and 13: `make bench` runs `python bench/run.py`.

Generates deterministic inputs in their sources' real formats (bench/generate.py) into a temporary folder, checks
that the contracts as they are now admit them, runs each contender as a separate process (a fresh interpreter)
several times, and prints per contender the median wall time, CPU-seconds, MB/s, peak RSS, output size, the
ratios to the book approach and the Lambda cost per TB; then the handler's import time, the `sam build` bundle
size, and every target as PASS, FAIL or n/a (not measured in this run).

    python bench/run.py                   # full run (250 MB and 1 GB inputs), 11 runs per contender
    python bench/run.py --quick --runs 1  # smoke run on small inputs (seconds); input targets are n/a
    python bench/run.py --json report.json
    python bench/run.py --from-json report.json   # judge and print a saved report again

Exit code: 0 when every target it measured is met, 1 when one is missed, 2 when it could not measure what it
ran (a reference contender or the generator failed; argparse's usage errors are 2 as well).
Peak RSS and CPU-seconds are the child's own ``os.wait4`` figures: exact per process, its threads and any child
processes it waited for included.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from report import Result, Run, conclude, render  # bench/ is on sys.path, not a package
from variants import VARIANTS

# The generator and the contenders run in child processes: this process must stay small, because Linux carries
# the parent's RSS high-water mark into a (v)forked child's ru_maxrss, which would put a floor under every
# measurement. So nothing here imports pyarrow, numpy, pandas or yaml before the contenders have run.
MB = 1_000_000
SEED = 20261122

PY = sys.executable
DATASETS = {
    # name: (generator kind, pipeline, dataset, format, file suffix)
    "weblogs-csv": ("weblogs", "weblogs", "useractivity", "csv", ".csv"),
    "accel-jsonl": ("accelerometer", "stedi", "accelerometer", "jsonl", ".jsonl"),
}
CONTENDERS = ["lakehouse", "lakehouse-venv", "book", "polars", "pyarrow", "duckdb"]
SIZES = {"full": (250, 1000), "quick": (4, 16)}  # (main size, flat-memory size) in MB (10^6 bytes)
CHECK_MB = 1.0  # size of the sample each input shape is checked against its contract with
IMPORT_RUNS = 7
HEAVY_MODULES = ("pyarrow", "pandas", "numpy", "duckdb", "awswrangler", "boto3", "botocore", "pydantic", "yaml")

Say = Callable[[str], None]
Inputs = dict[tuple[str, str], list[tuple[str, Path]]]  # (dataset, size) -> [(variant, file)], in rotation order


# ------------------------------------------------------------------------------------------ inputs


def variants_for(dataset: str, size: str, runs: int) -> list[str]:
    """The input shapes a (dataset, size) rotates through: as many as its runs can cover. The flat-memory input
    rotates from the last shape, so one big run converts the quirkier file."""
    names = list(VARIANTS[DATASETS[dataset][0]])
    if size == "big":
        names.reverse()
    return names[: max(1, min(runs, len(names)))]


def generate(dataset: str, mb: float, path: Path, variant: str) -> dict:
    kind = DATASETS[dataset][0]
    proc = subprocess.run([PY, str(HERE / "generate.py"), kind, str(mb), str(path), str(SEED), variant],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def check_contracts(datasets: list[str], work: Path, pipelines_dir: Path, say: Say) -> list[dict]:
    """Converts a small sample of every input shape with the contracts as they are now (they change under the
    bench: it reads them at run time and never edits them), so a rejection is named before the long runs."""
    checks = []
    for dataset in datasets:
        for variant in VARIANTS[DATASETS[dataset][0]]:
            sample = work / "check" / f"{dataset}-{variant}{DATASETS[dataset][4]}"
            generate(dataset, CHECK_MB, sample, variant)
            out = work / "check" / f"out-{dataset}-{variant}"
            proc = subprocess.run(contender_cmd("lakehouse", dataset, sample, out, pipelines_dir), cwd=ROOT,
                                  capture_output=True, text=True, check=False)  # a rejection is a result
            try:
                summary = json.loads(proc.stdout)
            except json.JSONDecodeError:
                summary = {"status": f"exit {proc.returncode}", "reason": {"message": (proc.stderr or proc.stdout)[-300:]}}
            reason = summary.get("reason") or {}
            message = f"{reason.get('code', '')}: {reason.get('message', '')}".strip(": ")[:160] if reason else ""
            checks.append({"dataset": dataset, "variant": variant, "status": summary.get("status"), "reason": message})
            say(f"contract check {dataset} {variant}: {summary.get('status')} {message}")
    return checks


# ------------------------------------------------------------------------------------------ measuring


def dir_bytes(path: Path) -> int:
    """Apparent size of every file under ``path`` (symlinks not followed), i.e. the unzipped size."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                pass
    return total


def measure(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None, log: Path) -> tuple[float, float, int, float]:
    """Runs ``cmd`` to completion; returns (wall seconds, peak RSS in MB, exit code, CPU-seconds).

    wait4's rusage covers the child, its threads and the descendants it waited for: the process tree's
    user + system time, and the largest peak RSS among them."""
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss * 1024 / MB, proc.returncode, cpu  # ru_maxrss is KiB on Linux


def contender_cmd(contender: str, dataset: str, source: Path, out: Path, pipelines_dir: Path) -> list[str]:
    _, pipeline, name, fmt, _ = DATASETS[dataset]
    if contender == "lakehouse-venv":  # the console script in the dev venv, where pyarrow also imports pandas
        script = Path(PY).parent / "lakehouse"
        prefix = [str(script)] if script.exists() else [PY, "-c", "import sys; from lakehouse_local.cli import run; sys.exit(run())"]
        return prefix + [
            "convert", "--pipeline", pipeline, "--dataset", name, "--input", str(source), "--output", str(out),
            "--pipelines-dir", str(pipelines_dir),
        ]
    # lakehouse runs as deployed: the Lambda layer has no pandas (see contenders.py); polars reads the contract
    return [PY, str(HERE / "contenders.py"), contender, fmt, str(source), str(out), pipeline, name, str(pipelines_dir)]


def run_contenders(jobs: list[Result], inputs: Inputs, rounds: int, work: Path, pipelines_dir: Path, say: Say) -> None:
    """Round-robin over the contenders, round after round, so drift in the machine hits all of them alike; the
    order within each round is shuffled (seeded), so no contender always runs right after the same neighbour.
    Every contender converts the same input shape in a round (the shapes rotate from round to round), so the
    ratios compare like with like."""
    order = random.Random(SEED)
    for attempt in range(rounds):
        for job in order.sample(jobs, len(jobs)):
            if attempt >= job.planned_runs:
                continue
            shapes = inputs[(job.dataset, job.size)]
            variant, source = shapes[attempt % len(shapes)]
            out = work / "out" / f"{job.dataset}-{job.size}-{job.contender}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            log = work / "logs" / f"{job.dataset}-{job.size}-{job.contender}-{attempt}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            cmd = contender_cmd(job.contender, job.dataset, source, out, pipelines_dir)
            seconds, rss, code, cpu = measure(cmd, cwd=ROOT, log=log)
            error = "" if code == 0 else log.read_text(errors="replace")[-2000:]
            job.runs.append(Run(round(seconds, 3), round(cpu, 3), round(rss, 1), round(dir_bytes(out) / MB, 2), code,
                                variant, error))
            shutil.rmtree(out, ignore_errors=True)
            state = "ok" if code == 0 else f"EXIT {code}"
            say(f"  {job.dataset:12} {job.size:4} {job.contender:14} run {attempt + 1} ({variant}): {seconds:7.2f} s  "
                f"{cpu:6.2f} cpu s  {rss:7.1f} MB RSS  {state}")


# ------------------------------------------------------------------------------------------ cold start and bundle


def measure_import(build_dir: Path, runs: int = IMPORT_RUNS) -> dict:
    """Wall time of ``python -c "import app"`` for ConvertFunction in a fresh interpreter.

    With a `sam build` output, the function is laid out as Lambda runs it (``python -S``: the built function,
    its layers and the runtime's boto3, nothing else of this environment); without one, from the source tree
    on this venv (which also carries the dev tools' packages, so it reads higher). Measured as deployed by
    default (FunctionTracing=PassThrough: POWERTOOLS_TRACE_DISABLED=true) and, for reference, with X-Ray
    tracing on (FunctionTracing=Active), which loads the X-Ray SDK at import.
    """
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env.setdefault("LAKEHOUSE_PIPELINES_DIR", str(ROOT / "pipelines"))
    scratch = Path(tempfile.mkdtemp(prefix="bench-import-"))
    if (build_dir / "template.yaml").exists():
        from lakehouse_local.bundle import lambda_pythonpath

        layout = "sam build output, python -S"
        env["PYTHONPATH"] = lambda_pythonpath(build_dir, "ConvertFunction", scratch)
        python = [PY, "-S"]
    else:
        layout = "source tree on the dev venv"
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions" / "convert"), str(ROOT / "layers" / "lakehouse")])
        python = [PY]
    result: dict = {"status": "ok", "layout": layout}
    try:
        for setting, disabled in (("default", "true"), ("tracing_active", "false")):
            env["POWERTOOLS_TRACE_DISABLED"] = disabled
            probe = subprocess.run(
                python + ["-c", f"import sys, app; print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"],
                cwd=scratch, env=env, capture_output=True, text=True, check=False,
            )
            if probe.returncode != 0:
                return {"status": "error", "detail": probe.stderr.strip()[-800:]}
            imports, baseline = [], []
            log = scratch / "log"
            for _ in range(runs):  # interleaved with the bare interpreter, so both see the same machine
                imports.append(measure(python + ["-c", "import app"], cwd=scratch, env=env, log=log)[0])
                baseline.append(measure(python + ["-c", "pass"], cwd=scratch, env=env, log=log)[0])
            result[setting] = {
                "median_s": round(statistics.median(imports), 3),
                "interpreter_only_s": round(statistics.median(baseline), 3),
                "runs": [round(s, 3) for s in imports],
                "heavy_modules_loaded": probe.stdout.strip(),
            }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["median_s"] = result["default"]["median_s"]
    return result


def measure_bundle(build_dir: Path) -> dict:
    """Unzipped size of each function of a `sam build` output plus the layers it uses."""
    from lakehouse_local.bundle import bundle_sizes

    if not (build_dir / "template.yaml").exists():
        return {"status": "not built", "detail": f"{build_dir} has no template.yaml: run `sam build` "
                "(or pass --sam-build)"}
    bundles = bundle_sizes(build_dir)
    if not bundles:
        return {"status": "not built", "detail": f"no functions in {build_dir / 'template.yaml'}"}
    functions = {
        b.function: {
            "code_mb": round(b.code_mb, 1),
            "layers": {name: round(mb, 1) for name, mb in b.layers_mb.items()},
            "total_mb": round(b.total_mb, 1),
        }
        for b in bundles
    }
    largest = max(bundles, key=lambda b: b.total_mb)
    return {"status": "ok", "build_dir": str(build_dir), "functions": functions, "largest": largest.function,
            "largest_mb": round(largest.total_mb, 1)}


def sam_build(work: Path, say) -> Path:
    build_dir = work / "sam-build"
    sam = shutil.which("sam", path=str(Path(PY).parent)) or shutil.which("sam") or "sam"
    say(f"sam build --build-dir {build_dir} ...")
    proc = subprocess.run([sam, "build", "--build-dir", str(build_dir), "--cache-dir", str(work / "sam-cache")],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        say("sam build failed:\n" + (proc.stdout + proc.stderr)[-1500:])
    return build_dir




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per contender on the main inputs (default 11)")
    parser.add_argument("--big-runs", type=int, default=1, help="runs of lakehouse on the 1 GB inputs (default 1)")
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke run, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--from-json", type=Path, help="judge and print a report saved by --json; runs nothing")
    parser.add_argument("--workdir", type=Path, help="folder for inputs/outputs (default: a new temp folder, removed)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset")
    parser.add_argument("--no-big", action="store_true", help="skip the flat-memory (1 GB) inputs")
    parser.add_argument("--pipelines-dir", type=Path, default=ROOT / "pipelines",
                        help="the contracts the lakehouse and polars contenders read (default: pipelines/)")
    parser.add_argument("--sam-build", action="store_true",
                        help="run `sam build` into the work folder and measure that (default: measure .aws-sam/build)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    args = parser.parse_args(argv)
    contenders = [c for c in args.contenders.split(",") if c]
    datasets = [d for d in args.datasets.split(",") if d]
    for name, chosen, known in (("contender", contenders, CONTENDERS), ("dataset", datasets, DATASETS)):
        if unknown := sorted(set(chosen) - set(known)):
            parser.error(f"unknown {name}(s): {', '.join(unknown)} (known: {', '.join(known)})")

    if args.from_json:
        report = conclude(json.loads(args.from_json.read_text()))
        print(render(report))
        return report["exit_code"]

    started = time.perf_counter()
    say: Say = lambda msg: print(msg, file=sys.stderr, flush=True)  # progress goes to stderr
    main_mb, big_mb = SIZES["quick" if args.quick else "full"]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        try:
            checks = check_contracts(datasets, work, args.pipelines_dir, say) if "lakehouse" in contenders else []
            inputs: Inputs = {}
            generated = []
            sizes = (("main", main_mb, args.runs),) + (() if args.no_big else (("big", big_mb, args.big_runs),))
            for dataset in datasets:
                for size, mb, runs in sizes:
                    for variant in variants_for(dataset, size, runs):
                        path = work / "inputs" / f"{size}-{mb}" / f"{DATASETS[dataset][2]}-{variant}{DATASETS[dataset][4]}"
                        t0 = time.perf_counter()
                        info = generate(dataset, mb, path, variant)
                        generated.append({**info, "dataset": dataset, "size": size,
                                          "seconds": round(time.perf_counter() - t0, 2)})
                        say(f"generated {path} ({info['bytes'] / MB:.0f} MB, {info['rows']} rows) in "
                            f"{generated[-1]['seconds']} s")
                        inputs.setdefault((dataset, size), []).append((variant, path))
        except subprocess.CalledProcessError as exc:
            say(f"the generator failed: {exc.stderr[-1500:]}")
            return 2

        # The Lambda layer ships bytecode (layers/lakehouse/Makefile); give the source tree the same, so no run
        # compiles the package (this machine sets PYTHONDONTWRITEBYTECODE, which would make every run do it).
        for folder in (ROOT / "layers" / "lakehouse", ROOT / "local"):
            compileall.compile_dir(folder, quiet=1)

        jobs: list[Result] = []
        for (dataset, size), files in inputs.items():
            input_mb = statistics.mean(path.stat().st_size for _, path in files) / MB
            for contender in contenders if size == "main" else [c for c in contenders if c == "lakehouse"]:
                jobs.append(Result(dataset, size, contender, input_mb, args.runs if size == "main" else args.big_runs))
        run_contenders(jobs, inputs, max(args.runs, args.big_runs), work, args.pipelines_dir, say)

        say("measuring handler import time ...")
        build_dir = sam_build(work, say) if args.sam_build else args.build_dir
        report = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "quick": args.quick,
            "seed": SEED,
            "sizes": {"main": main_mb, "big": big_mb},
            "pipelines_dir": str(args.pipelines_dir),
            "contract_checks": checks,
            "inputs": generated,
            "results": [j.as_dict() for j in jobs],
            "import": measure_import(build_dir),
            "bundle": measure_bundle(build_dir),
        }
        report["wall_s"] = round(time.perf_counter() - started, 1)
        conclude(report)
        print(render(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
        return report["exit_code"]
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
