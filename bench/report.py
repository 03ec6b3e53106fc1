"""The benchmark's figures and its verdict: per-contender results, their ratios to the book approach, the Lambda
cost per TB, and each target as PASS, FAIL or n/a, with the exit code that follows from them.

No heavy imports: bench/run.py keeps this in its own small process (see run.py), and ``run.py --from-json``
re-judges a saved report with it.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field

MB = 1_000_000
TB_IN_MB = 1_000_000  # 1 TB = 10^12 bytes = 10^6 MB of 10^6 bytes

# Lambda cost of a conversion. At 1,769 MB a function has the equivalent of one vCPU, so a conversion that
# needs N CPU-seconds runs for at least N seconds there, however many threads it uses: the CPU-seconds are the
# billed duration's lower bound. Lambda bills GB-seconds with GB = MB / 1024 (AWS's own examples: 512 MB is
# 0.5 GB), at the public x86 price of the first tier (us-east-1). S3 transfer time, cold starts and the
# $0.20 per million requests (4,000 requests per TB in 250 MB files: $0.0008) are left out.
LAMBDA_MEMORY_MB = 1769
LAMBDA_GB = LAMBDA_MEMORY_MB / 1024
LAMBDA_USD_PER_GB_S = 0.0000166667

PASS, FAIL, NA = "PASS", "FAIL", "n/a"
EXIT_OK, EXIT_MISSED, EXIT_BROKEN = 0, 1, 2
PRODUCT = "lakehouse"  # the contender the targets judge
REFERENCE = "book"  # the approach the ratios compare with
LABELS = {"weblogs-csv": "CSV", "accel-jsonl": "JSONL"}


def lambda_usd_per_tb(cpu_s: float, input_mb: float) -> float:
    """Cost of converting 1 TB of such input in Lambda at 1,769 MB, the duration bound by the CPU-seconds."""
    return cpu_s * (TB_IN_MB / input_mb) * LAMBDA_GB * LAMBDA_USD_PER_GB_S


@dataclass
class Run:
    seconds: float
    cpu_s: float  # user + system CPU of the child and everything it waited for (threads, child processes)
    peak_rss_mb: float
    output_mb: float
    returncode: int
    variant: str = ""
    error: str = ""


@dataclass
class Result:
    dataset: str
    size: str  # "main" or "big"
    contender: str
    input_mb: float
    planned_runs: int = 0
    runs: list[Run] = field(default_factory=list)

    @property
    def ok(self) -> list[Run]:
        return [r for r in self.runs if r.returncode == 0]

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if r.returncode != 0]

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

    @property
    def usd_per_tb(self) -> float | None:
        cpu = self.median_cpu_s
        return None if cpu is None else lambda_usd_per_tb(cpu, self.input_mb)

    def by_variant(self) -> dict[str, dict]:
        """Median wall and CPU seconds per input shape (converted runs only), to see what each shape costs."""
        shapes: dict[str, list[Run]] = {}
        for run in self.ok:
            shapes.setdefault(run.variant, []).append(run)
        return {v: {"runs": len(rs), "median_s": round(statistics.median(r.seconds for r in rs), 3),
                    "median_cpu_s": round(statistics.median(r.cpu_s for r in rs), 3)} for v, rs in shapes.items()}

    def as_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "size": self.size,
            "contender": self.contender,
            "input_mb": round(self.input_mb, 1),
            "planned_runs": self.planned_runs,
            "median_s": _round(self.median_s, 3),
            "median_cpu_s": _round(self.median_cpu_s, 3),
            "mb_per_s": _round(self.mb_per_s, 1),
            "peak_rss_mb": _round(self.peak_rss_mb, 1),
            "output_mb": _round(self.output_mb, 1),
            "lambda_usd_per_tb": _round(self.usd_per_tb, 4),
            "by_variant": self.by_variant(),
            "runs": [asdict(r) for r in self.runs],
            "status": "ok" if self.runs and not self.failed else "error",
        }

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        runs = [Run(**r) for r in data["runs"]]
        return cls(data["dataset"], data["size"], data["contender"], data["input_mb"],
                   data.get("planned_runs", len(runs)), runs)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# ------------------------------------------------------------------------------------------ targets


@dataclass
class Target:
    name: str
    measured: float | None
    op: str  # ">=" | "<=" | "<"
    threshold: float
    unit: str = "x"
    status: str = NA
    note: str = ""

    def as_dict(self) -> dict:
        return {"target": self.name, "measured": _round(self.measured, 3), "unit": self.unit,
                "threshold": f"{self.op} {self.threshold:g}{'' if self.unit == 'x' else ' ' + self.unit}",
                "status": self.status, "note": self.note}


def _meets(value: float, op: str, threshold: float) -> bool:
    return value >= threshold if op == ">=" else value <= threshold if op == "<=" else value < threshold


def _first_line(text: str) -> str:
    """What a failed run said: the converter's reason from its JSON summary, else the output's last line."""
    start = text.find("{\n")
    if start >= 0:
        try:
            summary, _ = json.JSONDecoder().raw_decode(text[start:])
            reason = summary.get("reason") or {}
            return f"{summary.get('status')}, {reason.get('code')}: {reason.get('message', '')}"[:200]
        except (json.JSONDecodeError, AttributeError):
            pass
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


class _Judge:
    """Builds the target rows from the results of one run of the bench."""

    def __init__(self, results: list[Result], quick: bool) -> None:
        self.results = results
        self.quick = quick
        self.targets: list[Target] = []
        self.broken: list[str] = []  # reference contenders that failed: the bench could not measure

    def find(self, dataset: str, size: str, contender: str) -> Result | None:
        return next((r for r in self.results if (r.dataset, r.size, r.contender) == (dataset, size, contender)), None)

    def add(self, name: str, op: str, threshold: float, *, product: Result | None, metric: str,
            reference: Result | None = None, ref_metric: str | None = None, invert: bool = False,
            unit: str = "x", needs: str = "") -> None:
        """One target: ``metric`` of the product, divided by ``ref_metric`` of the reference when one is given
        (``invert``: the reference's over the product's, for speed)."""
        target = Target(name, None, op, threshold, unit)
        self.targets.append(target)
        if self.quick:
            target.note = "quick run: small inputs are a smoke test, not the targets' inputs"
            if product is not None and product.failed:
                target.note += f"; {PRODUCT} failed"
            return
        if product is None:
            target.note = needs or f"{PRODUCT} not run on this input"
            return
        if product.failed:
            target.status = FAIL
            target.note = (f"{PRODUCT} failed {len(product.failed)} of {len(product.runs)} runs: "
                           f"{_first_line(product.failed[0].error)}")
            return
        value = getattr(product, metric)
        if ref_metric is not None:
            if reference is None:
                target.note = needs or f"{REFERENCE} not run on this input"
                return
            if reference.failed or getattr(reference, ref_metric) is None:
                said = _first_line(reference.failed[0].error) if reference.failed else "no run finished"
                target.note = f"{reference.contender} failed: {said}"
                if (broken := f"{reference.contender} on {reference.dataset}") not in self.broken:
                    self.broken.append(broken)
                return
            ref = getattr(reference, ref_metric)
            value = (ref / value if invert else value / ref) if value and ref else None
        if value is None:
            target.note = "no measurement"
            return
        target.measured = value
        target.status = PASS if _meets(value, op, threshold) else FAIL


def judge(results: list[Result], imports: dict, bundle: dict, big_mb: float, quick: bool) -> tuple[list[Target], list[str]]:
    """The targets of issues 6 and 13, and the reference runs that failed (the bench could not judge those)."""
    j = _Judge(results, quick)
    for dataset, label in LABELS.items():
        lake, book, bare = (j.find(dataset, "main", c) for c in (PRODUCT, REFERENCE, "pyarrow"))
        j.add(f"{label} speed vs book (book s / lakehouse s)", ">=", 1.0, product=lake, metric="median_s",
              reference=book, ref_metric="median_s", invert=True)
        if label == "CSV":
            j.add(f"{label} speed vs bare pyarrow", ">=", 0.8, product=lake, metric="median_s", reference=bare,
                  ref_metric="median_s", invert=True)
        j.add(f"{label} CPU-seconds vs book", "<=", 1.0, product=lake, metric="median_cpu_s", reference=book,
              ref_metric="median_cpu_s")
        j.add(f"{label} peak RSS vs book", "<=", 0.25, product=lake, metric="peak_rss_mb", reference=book,
              ref_metric="peak_rss_mb")
        j.add(f"{label} {big_mb:g} MB file peak RSS", "<", 400, product=j.find(dataset, "big", PRODUCT),
              metric="peak_rss_mb", unit="MB", needs=f"{PRODUCT} not run on the {big_mb:g} MB input")
        if label == "CSV":
            j.add(f"{label} Parquet size vs input", "<=", 0.25, product=lake, metric="output_mb", reference=lake,
                  ref_metric="input_mb")
    for name, value, threshold, unit, info in (
        ("handler import time, as deployed (import app)", imports.get("median_s"), 0.5, "s", imports),
        ("bundle: largest function + its layers (unzipped)", bundle.get("largest_mb"), 150, "MB", bundle),
    ):
        target = Target(name, value, "<=", threshold, unit)
        if value is None:
            target.note = f"not measured: {info.get('status', 'skipped')}"
        else:
            target.status = PASS if _meets(value, "<=", threshold) else FAIL
        j.targets.append(target)
    return j.targets, j.broken


def exit_code(targets: list[dict], broken: list[str]) -> int:
    """1 when a target the bench measured is missed, else 2 when it could not measure what it ran, else 0."""
    if any(t["status"] == FAIL for t in targets):
        return EXIT_MISSED
    return EXIT_BROKEN if broken else EXIT_OK


# ------------------------------------------------------------------------------------------ rendering


def _fmt(value: float | None, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def _ratios(row: dict, book: dict | None) -> tuple[float | None, float | None, float | None]:
    """Speed (book s / s), CPU-seconds and peak RSS against the book approach on the same input."""
    if not book or row["size"] != "main" or row["median_s"] is None or book["median_s"] is None:
        return None, None, None
    return (book["median_s"] / row["median_s"], row["median_cpu_s"] / book["median_cpu_s"],
            row["peak_rss_mb"] / book["peak_rss_mb"])


def render(report: dict) -> str:
    lines: list[str] = []
    checks = report.get("contract_checks", [])
    if checks:
        lines += ["", (f"Contract check: {PRODUCT} convert on a 1 MB sample of each input shape, with the contracts "
                       f"in {report.get('pipelines_dir', 'pipelines/')} as they are now")]
        for c in checks:
            lines.append(f"  {c['dataset']:12} {c['variant']:12} {c['status']}" + (f": {c['reason']}" if c.get("reason") else ""))
        if any(c["status"] != "converted" for c in checks):
            lines.append(f"  -> {PRODUCT} does not convert its source's real format with these contracts: its targets on that "
                         "input FAIL")
    head = (f"{'dataset':12} {'input':>5} {'contender':14} {'median s':>8} {'cpu s':>6} {'MB/s':>6} {'RSS MB':>7} "
            f"{'out MB':>6} {'x speed':>7} {'x cpu':>6} {'x RSS':>6} {'$/TB':>6}  runs")
    lines += ["", ("Contenders (median of runs; RSS = peak over runs; MB = 10^6 bytes; x = against book on the same "
                   "input: speed = book s / s, cpu and RSS = own / book's)"), head, "-" * len(head)]
    rows = report["results"]
    for r in rows:
        book = next((b for b in rows if (b["dataset"], b["size"], b["contender"]) == (r["dataset"], "main", REFERENCE)), None)
        speed, cpu, rss = _ratios(r, book)
        state = f"{len(r['runs'])}" + ("" if r["status"] == "ok" else f" ({sum(x['returncode'] != 0 for x in r['runs'])} failed)")
        lines.append(
            f"{r['dataset']:12} {r['input_mb']:5.0f} {r['contender']:14} {_fmt(r['median_s'], 8, 2)} "
            f"{_fmt(r['median_cpu_s'], 6, 2)} {_fmt(r['mb_per_s'], 6, 1)} {_fmt(r['peak_rss_mb'], 7, 1)} "
            f"{_fmt(r['output_mb'], 6, 1)} {_fmt(speed, 7, 2)} {_fmt(cpu, 6, 2)} {_fmt(rss, 6, 2)} "
            f"{_fmt(r.get('lambda_usd_per_tb'), 6, 3)}  {state}"
        )
    lines += [
        (f"{PRODUCT} = `lakehouse convert` with the Lambda layer's packages (no pandas); lakehouse-venv = the "
         "console script in the dev venv. Targets judge `lakehouse`."),
        (f"$/TB = Lambda cost of converting 1 TB of such input at {LAMBDA_MEMORY_MB:,} MB (one vCPU): median "
         f"CPU-seconds as the billed duration x {LAMBDA_GB:.4f} GB ({LAMBDA_MEMORY_MB:,}/1024) x "
         f"${LAMBDA_USD_PER_GB_S:.10f} per GB-s (public x86 price, first tier), scaled to 10^12 bytes. A lower bound: "
         "S3 transfer, cold starts and requests are not in it."),
    ]
    for r in [] if report["quick"] else rows:
        if r["contender"] == REFERENCE and r["size"] == "main" and r["peak_rss_mb"]:
            per_mb = r["peak_rss_mb"] / r["input_mb"]
            lines.append(f"{REFERENCE} holds the whole {LABELS.get(r['dataset'], r['dataset'])} file: peak RSS "
                         f"{per_mb:.1f}x its input, so at {LAMBDA_MEMORY_MB:,} MB it could convert files up to "
                         f"about {LAMBDA_MEMORY_MB * MB / 1048576 / per_mb:.0f} MB (a linear extrapolation).")
    lines += _render_import_and_bundle(report)
    targets = report["targets"]
    head = f"{'target':50} {'measured':>11} {'threshold':>10}  status"
    lines += ["", "Targets (issues 6 and 13)", head, "-" * len(head)]
    for t in targets:
        measured = "-" if t["measured"] is None else f"{t['measured']:.3f}" + ("" if t["unit"] == "x" else f" {t['unit']}")
        flag = "FAIL  <<<" if t["status"] == FAIL else t["status"]
        note = f"  ({t['note']})" if t["note"] else ""
        lines.append(f"{t['target']:50} {measured:>11} {t['threshold']:>10}  {flag}{note}")
    missed = [t["target"] for t in targets if t["status"] == FAIL]
    unmeasured = [t for t in targets if t["status"] == NA]
    met = sum(t["status"] == PASS for t in targets)
    verdict = f"MISSED ({len(missed)}): " + "; ".join(missed) if missed else f"ALL {met} MEASURED TARGETS MET"
    lines += ["", verdict + (f"; {len(unmeasured)} not measured in this run (n/a)" if unmeasured else "")]
    if report.get("broken"):
        lines.append("could not measure: " + "; ".join(report["broken"]))
    lines.append(f"exit code {report['exit_code']}; bench wall time: {report.get('wall_s', 0):.0f} s")
    return "\n".join(lines)


def _render_import_and_bundle(report: dict) -> list[str]:
    lines: list[str] = []
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
    return lines


def conclude(report: dict) -> dict:
    """Judges a report's results (fresh from a run, or loaded from its JSON) and sets its targets and exit code."""
    results = [Result.from_dict(r) for r in report["results"]]
    report["results"] = [r.as_dict() for r in results]
    targets, broken = judge(results, report["import"], report["bundle"], report["sizes"]["big"], report["quick"])
    report["targets"] = [t.as_dict() for t in targets]
    report["broken"] = broken + report.get("generator_errors", [])
    report["exit_code"] = exit_code(report["targets"], report["broken"])
    return report
