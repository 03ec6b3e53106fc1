"""The conversion benchmark of issue 6: `make bench` runs `python bench/run.py`.

Generates deterministic inputs into a temporary folder, runs each contender as a separate process (a fresh
interpreter) several times, and prints median wall time, MB/s, peak RSS and output size per contender, the
handler's import time, the `sam build` bundle size, and the targets of issue 6 as PASS/FAIL.

    python bench/run.py                 # full run (250 MB and 1 GB inputs), 11 runs per contender
    python bench/run.py --quick --runs 1  # smoke run on small inputs (seconds)
    python bench/run.py --json report.json

It is a report, not a test: the exit code is 0 even when a target fails (non-zero only when the benchmark
itself cannot run). Peak RSS is the child's own ``ru_maxrss`` (os.wait4), exact per process.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

# The generator runs in a child process: this process must stay small, because Linux carries the parent's RSS
# high-water mark into a (v)forked child's ru_maxrss, which would put a floor under every measurement.
MB = 1_000_000
SEED = 20261122

PY = sys.executable
DATASETS = {
    # name: (generator kind, pipeline, dataset, format, file name)
    "weblogs-csv": ("weblogs", "weblogs", "useractivity", "csv", "useractivity.csv"),
    "accel-jsonl": ("accelerometer", "stedi", "accelerometer", "jsonl", "accelerometer.jsonl"),
}
CONTENDERS = ["lakehouse", "lakehouse-venv", "book", "pyarrow", "duckdb"]
SIZES = {"full": (250, 1000), "quick": (4, 16)}  # (main size, flat-memory size) in MB (10^6 bytes)
IMPORT_RUNS = 7
HEAVY_MODULES = ("pyarrow", "pandas", "numpy", "duckdb", "awswrangler", "boto3", "botocore", "pydantic", "yaml")


# ------------------------------------------------------------------------------------------ measuring


@dataclass
class Run:
    seconds: float
    cpu_s: float  # user + system CPU time of the child: less sensitive to a busy machine than wall time
    peak_rss_mb: float
    output_mb: float
    returncode: int
    error: str = ""


@dataclass
class Result:
    dataset: str
    size: str  # "main" or "big"
    contender: str
    input_mb: float
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> list[Run]:
        return [r for r in self.runs if r.returncode == 0]

    @property
    def median_s(self) -> float | None:
        return statistics.median(r.seconds for r in self.ok) if self.ok else None

    @property
    def median_cpu_s(self) -> float | None:
        return statistics.median(r.cpu_s for r in self.ok) if self.ok else None

    @property
    def mb_per_s(self) -> float | None:
        return self.input_mb / self.median_s if self.median_s else None

    @property
    def peak_rss_mb(self) -> float | None:
        return max(r.peak_rss_mb for r in self.ok) if self.ok else None

    @property
    def output_mb(self) -> float | None:
        return self.ok[-1].output_mb if self.ok else None

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "size": self.size,
            "contender": self.contender,
            "input_mb": round(self.input_mb, 1),
            "median_s": _round(self.median_s, 3),
            "median_cpu_s": _round(self.median_cpu_s, 3),
            "mb_per_s": _round(self.mb_per_s, 1),
            "peak_rss_mb": _round(self.peak_rss_mb, 1),
            "output_mb": _round(self.output_mb, 1),
            "runs": [asdict(r) for r in self.runs],
            "status": "ok" if len(self.ok) == len(self.runs) else "error",
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


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
    """Runs ``cmd`` to completion; returns (wall seconds, the child's peak RSS in MB, exit code, CPU seconds)."""
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss * 1024 / MB, proc.returncode, cpu  # ru_maxrss is KiB on Linux


def contender_cmd(contender: str, dataset: str, source: Path, out: Path) -> list[str]:
    _, pipeline, name, fmt, _ = DATASETS[dataset]
    if contender == "lakehouse":  # as deployed: the Lambda layer has no pandas (see contenders.py)
        return [PY, str(HERE / "contenders.py"), contender, fmt, str(source), str(out), pipeline, name,
                str(ROOT / "pipelines")]
    if contender == "lakehouse-venv":  # the console script in the dev venv, where pyarrow also imports pandas
        script = Path(PY).parent / "lakehouse"
        prefix = [str(script)] if script.exists() else [PY, "-c", "import sys; from lakehouse_local.cli import run; sys.exit(run())"]
        return prefix + [
            "convert", "--pipeline", pipeline, "--dataset", name, "--input", str(source), "--output", str(out),
            "--pipelines-dir", str(ROOT / "pipelines"),
        ]
    return [PY, str(HERE / "contenders.py"), contender, fmt, str(source), str(out)]


def run_contenders(jobs: list[Result], inputs: dict[tuple[str, str], Path], runs: int, work: Path, say) -> None:
    """Round-robin over the contenders, run after run, so drift in the machine hits all of them alike; the order
    within each round is shuffled (seeded), so no contender always runs right after the same neighbour."""
    order = random.Random(SEED)
    for attempt in range(runs):
        for job in order.sample(jobs, len(jobs)):
            if attempt >= job_runs(job, runs):
                continue
            source = inputs[(job.dataset, job.size)]
            out = work / "out" / f"{job.dataset}-{job.size}-{job.contender}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            log = work / "logs" / f"{job.dataset}-{job.size}-{job.contender}-{attempt}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            seconds, rss, code, cpu = measure(contender_cmd(job.contender, job.dataset, source, out), cwd=ROOT, log=log)
            error = "" if code == 0 else log.read_text(errors="replace")[-800:]
            job.runs.append(Run(round(seconds, 3), round(cpu, 3), round(rss, 1), round(dir_bytes(out) / MB, 2), code, error))
            shutil.rmtree(out, ignore_errors=True)
            state = "ok" if code == 0 else f"EXIT {code}"
            say(f"  {job.dataset:12} {job.size:4} {job.contender:14} run {attempt + 1}: {seconds:7.2f} s  {cpu:6.2f} cpu s  "
                f"{rss:7.1f} MB RSS  {state}")


def job_runs(job: Result, runs: int) -> int:
    return runs if job.size == "main" else job.big_runs  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ cold start


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
                cwd=scratch, env=env, capture_output=True, text=True,
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
    functions = {
        b.function: {
            "code_mb": round(b.code_mb, 1),
            "layers": {name: round(mb, 1) for name, mb in b.layers_mb.items()},
            "total_mb": round(b.total_mb, 1),
        }
        for b in bundle_sizes(build_dir)
    }
    if not functions:
        return {"status": "not built", "detail": f"no functions in {build_dir / 'template.yaml'}"}
    largest = max(functions, key=lambda f: functions[f]["total_mb"])
    return {"status": "ok", "build_dir": str(build_dir), "functions": functions, "largest": largest,
            "largest_mb": functions[largest]["total_mb"]}


def sam_build(work: Path, say) -> Path:
    build_dir = work / "sam-build"
    sam = shutil.which("sam", path=str(Path(PY).parent)) or shutil.which("sam") or "sam"
    say(f"sam build --build-dir {build_dir} ...")
    proc = subprocess.run([sam, "build", "--build-dir", str(build_dir), "--cache-dir", str(work / "sam-cache")],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        say("sam build failed:\n" + (proc.stdout + proc.stderr)[-1500:])
    return build_dir


# ------------------------------------------------------------------------------------------ targets


def _find(results: list[Result], dataset: str, size: str, contender: str) -> Result | None:
    return next((r for r in results if (r.dataset, r.size, r.contender) == (dataset, size, contender)), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(results: list[Result], imports: dict, bundle: dict, big_mb: float) -> list[dict]:
    rows: list[dict] = []

    def add(name: str, value: float | None, op: str, threshold: float, unit: str = "x", note: str = "") -> None:
        if value is None:
            status = "N/A"
        else:
            status = "PASS" if (value >= threshold if op == ">=" else value <= threshold if op == "<=" else value < threshold) else "FAIL"
        rows.append({"target": name, "measured": None if value is None else round(value, 3), "unit": unit,
                     "threshold": f"{op} {threshold:g}{'' if unit == 'x' else ' ' + unit}", "status": status,
                     "note": note})

    for dataset, label in (("weblogs-csv", "CSV"), ("accel-jsonl", "JSONL")):
        lake, book, bare = (_find(results, dataset, "main", c) for c in ("lakehouse", "book", "pyarrow"))
        lake_s = lake.median_s if lake else None
        if label == "CSV":
            add(f"{label} throughput vs book (pandas)", _ratio(book.median_s if book else None, lake_s), ">=", 1.0)
            add(f"{label} throughput vs bare pyarrow", _ratio(bare.median_s if bare else None, lake_s), ">=", 0.8)
        add(f"{label} peak RSS vs book", _ratio(lake.peak_rss_mb if lake else None,
                                                 book.peak_rss_mb if book else None), "<=", 0.25)
        big = _find(results, dataset, "big", "lakehouse")
        add(f"{label} {big_mb:g} MB file peak RSS", big.peak_rss_mb if big else None, "<", 400, "MB")
        if label == "CSV":
            add(f"{label} Parquet size vs input", _ratio(lake.output_mb if lake else None,
                                                         lake.input_mb if lake else None), "<=", 0.25)
    add("handler import time, as deployed (import app)", imports.get("median_s"), "<=", 0.5, "s",
        "" if imports.get("status") == "ok" else imports.get("status", ""))
    add("bundle: largest function + its layers (unzipped)", bundle.get("largest_mb"), "<=", 150, "MB",
        "" if bundle.get("status") == "ok" else bundle.get("status", ""))
    return rows


# ------------------------------------------------------------------------------------------ report


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(report: dict) -> str:
    lines = []
    head = f"{'dataset':12} {'input':>6} {'contender':14} {'median s':>9} {'cpu s':>6} {'MB/s':>7} {'peak RSS MB':>11} {'output MB':>9}  status"
    lines += ["", "Contenders (median of runs; peak RSS = max over runs; MB = 10^6 bytes)", head, "-" * len(head)]
    for r in report["results"]:
        lines.append(
            f"{r['dataset']:12} {r['input_mb']:6.0f} {r['contender']:14} {_fmt(r['median_s'], '9.2f')} {_fmt(r['median_cpu_s'], '6.2f')} "
            f"{_fmt(r['mb_per_s'], '7.1f')} {_fmt(r['peak_rss_mb'], '11.1f')} {_fmt(r['output_mb'], '9.1f')}  "
            f"{r['status']} ({len(r['runs'])} run{'s' if len(r['runs']) != 1 else ''})"
        )
    lines.append("lakehouse = `lakehouse convert` with the Lambda layer's packages (no pandas); lakehouse-venv = the "
                 "console script in the dev venv, where pyarrow also imports pandas. Targets use `lakehouse`.")
    imp = report["import"]
    if imp.get("status") == "ok":
        lines += ["", f"Handler import ({imp['layout']}), median of {len(imp['default']['runs'])} fresh interpreters:"]
        for setting, label in (("default", "as deployed (FunctionTracing=PassThrough)"),
                               ("tracing_active", "with X-Ray (FunctionTracing=Active)")):
            m = imp[setting]
            lines.append(f"  {label:42} {m['median_s']:.3f} s (bare interpreter {m['interpreter_only_s']:.3f} s); "
                         f"heavy modules loaded: {m['heavy_modules_loaded']}")
    else:
        lines += ["", f"Handler import: {imp.get('status')}: {imp.get('detail', '')}"]
    bundle = report["bundle"]
    if bundle.get("status") == "ok":
        lines.append(f"Bundle ({bundle['build_dir']}):")
        for name, f in bundle["functions"].items():
            parts = ", ".join(f"{k} {v:.1f}" for k, v in f["layers"].items())
            lines.append(f"  {name}: {f['total_mb']:.1f} MB = code {f['code_mb']:.1f} + layers ({parts})")
    else:
        lines.append(f"Bundle: {bundle.get('status')}: {bundle.get('detail', '')}")
    head = f"{'target':50} {'measured':>10} {'threshold':>12}  status"
    lines += ["", "Targets (issue 6)", head, "-" * len(head)]
    for t in report["targets"]:
        measured = "-" if t["measured"] is None else f"{t['measured']:.3f}" + ("" if t["unit"] == "x" else f" {t['unit']}")
        flag = t["status"] if t["status"] != "FAIL" else "FAIL  <<<"
        note = f"  ({t['note']})" if t["note"] else ""
        lines.append(f"{t['target']:50} {measured:>10} {t['threshold']:>12}  {flag}{note}")
    failed = [t["target"] for t in report["targets"] if t["status"] != "PASS"]
    lines += ["", "ALL TARGETS MET" if not failed else f"NOT MET ({len(failed)}): " + "; ".join(failed),
              f"bench wall time: {report['wall_s']:.0f} s"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per contender on the main inputs (default 11)")
    parser.add_argument("--big-runs", type=int, default=1, help="runs of lakehouse on the 1 GB inputs (default 1)")
    parser.add_argument("--quick", action="store_true", help="small inputs: a smoke run, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--workdir", type=Path, help="folder for inputs/outputs (default: a new temp folder, removed)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated subset")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated subset")
    parser.add_argument("--no-big", action="store_true", help="skip the flat-memory (1 GB) inputs")
    parser.add_argument("--sam-build", action="store_true",
                        help="run `sam build` into the work folder and measure that (default: measure .aws-sam/build)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731 - progress goes to stderr
    main_mb, big_mb = SIZES["quick" if args.quick else "full"]
    contenders = [c for c in args.contenders.split(",") if c]
    datasets = [d for d in args.datasets.split(",") if d]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        inputs: dict[tuple[str, str], Path] = {}
        generated = []
        for dataset in datasets:
            kind, _, _, _, file_name = DATASETS[dataset]
            for size, mb in (("main", main_mb),) + ((() if args.no_big else (("big", big_mb),))):
                path = work / "inputs" / f"{size}-{mb}" / file_name
                t0 = time.perf_counter()
                proc = subprocess.run([PY, str(HERE / "generate.py"), kind, str(mb), str(path), str(SEED)],
                                      capture_output=True, text=True, check=True)
                info = json.loads(proc.stdout)
                generated.append({**info, "dataset": dataset, "size": size, "seconds": round(time.perf_counter() - t0, 2)})
                say(f"generated {path} ({info['bytes'] / MB:.0f} MB, {info['rows']} rows) in {generated[-1]['seconds']} s")
                inputs[(dataset, size)] = path

        # The Lambda layer ships bytecode (layers/lakehouse/Makefile); give the source tree the same, so no run
        # compiles the package (this machine sets PYTHONDONTWRITEBYTECODE, which would make every run do it).
        for folder in (ROOT / "layers" / "lakehouse", ROOT / "local"):
            compileall.compile_dir(folder, quiet=1)

        jobs: list[Result] = []
        for dataset in datasets:
            for size in ("main", "big"):
                if (dataset, size) not in inputs:
                    continue
                for contender in contenders if size == "main" else ["lakehouse"]:
                    if size == "big" and "lakehouse" not in contenders:
                        continue
                    job = Result(dataset, size, contender, inputs[(dataset, size)].stat().st_size / MB)
                    job.big_runs = args.big_runs  # type: ignore[attr-defined]
                    jobs.append(job)
        run_contenders(jobs, inputs, max(args.runs, args.big_runs), work, say)

        say("measuring handler import time ...")
        build_dir = sam_build(work, say) if args.sam_build else args.build_dir
        imports = measure_import(build_dir)
        bundle = measure_bundle(build_dir)
        report = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "quick": args.quick,
            "seed": SEED,
            "inputs": generated,
            "results": [j.as_dict() for j in jobs],
            "import": imports,
            "bundle": bundle,
            "targets": targets(jobs, imports, bundle, big_mb),
        }
        report["wall_s"] = round(time.perf_counter() - started, 1)
        print(render(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
