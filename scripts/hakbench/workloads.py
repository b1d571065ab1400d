"""What scripts/compare runs: every workload, its arguments per mode, and how to run it.
A mode maps to None when the workload is skipped in that mode (quick skips the slowest)."""
import os
from dataclasses import dataclass, field

from . import apps, runner

MODES = ("quick", "normal", "full")


@dataclass
class Workload:
    name: str
    kind: str                 # "bin" (a bench/workloads binary) or an app: python sqlite redis gxx micro
    description: str
    args: dict                # mode -> list of arguments (None = not run in this mode)
    binary: str | None = None
    base: list = field(default_factory=list)  # arguments common to every mode
    extra_keys: list = field(default_factory=list)  # RESULT keys worth showing in the report

    def runs_in(self, mode):
        return self.args.get(mode) is not None

    def command_args(self, mode):
        return self.base + self.args[mode]


def _m(q, n, f):
    return {"quick": q, "normal": n, "full": f}


def _it(q, n, f, flag="--iterations"):
    return _m([flag, str(q)] if q else None, [flag, str(n)], [flag, str(f)])


WORKLOADS = [
    Workload("mixed_16_1024", "bin", "random slot churn, 8,192 slots, sizes 16-1024",
             _it(6_000_000, 10_000_000, 20_000_000), "random_mixed", ["--max-size", "1024"],
             extra_keys=["steady_faults_per_1m"]),
    Workload("mixed_16_128", "bin", "random slot churn, sizes 16-128",
             _it(6_000_000, 10_000_000, 20_000_000), "random_mixed", ["--max-size", "128"],
             extra_keys=["steady_faults_per_1m"]),
    Workload("mixed_16_32768", "bin", "random slot churn, sizes 16-32768",
             _it(1_500_000, 5_000_000, 10_000_000), "random_mixed", ["--max-size", "32768"],
             extra_keys=["steady_faults_per_1m"]),
    Workload("mixed_mt2", "bin", "random slot churn, 2 independent threads, sizes 16-1024",
             _it(3_000_000, 5_000_000, 10_000_000), "random_mixed", ["--threads", "2"],
             extra_keys=["steady_faults_per_1m"]),
    Workload("larson", "bin", "server churn, 2 chains, live objects handed to a new thread per epoch",
             _m(["--epochs", "20", "--ops-per-epoch", "100000"],
                ["--epochs", "50", "--ops-per-epoch", "100000"],
                ["--epochs", "100", "--ops-per-epoch", "100000"]), "larson"),
    Workload("prodcons", "bin", "1 producer mallocs, 1 consumer frees (remote frees), sizes 16-256",
             _it(2_000_000, 4_000_000, 10_000_000, "--items"), "prodcons"),
    Workload("fragmentation", "bin",
             "allocate N MiB of 16-256 B objects, free 90% at random, idle (RSS sampled), reuse",
             _m(["--total-mb", "256", "--idle-seconds", "0.5", "--sample-ms", "50"],
                ["--total-mb", "2048", "--idle-seconds", "3"],
                ["--total-mb", "2048", "--idle-seconds", "5"]), "fragmentation",
             extra_keys=["rss_base_kb", "live_kb_after_free", "rss_after_alloc_kb", "rss_after_free_kb", "rss_idle_end_kb",
                         "rss_after_reuse_kb", "returned_pct"]),
    Workload("fault_storm", "bin", "malloc, touch every page, free a 1-8 MiB buffer per round",
             _it(100, 200, 1000, "--rounds"), "fault_storm",
             extra_keys=["faults_per_round", "us_per_round", "first_round_faults", "pages_per_round"]),
    Workload("medium_4k_64k", "bin", "medium batches: 4-64 KiB objects, 64 MiB held, written whole, freed",
             _it(4, 8, 16, "--rounds"), "medium_batch", ["--min-size", "4096", "--max-size", "65536"]),
    Workload("medium_4k_64k_mt2", "bin", "the same, 2 threads at once",
             _it(None, 8, 16, "--rounds"), "medium_batch",
             ["--min-size", "4096", "--max-size", "65536", "--threads", "2"]),
    Workload("medium_64k_1m", "bin", "medium batches: 64 KiB-1 MiB objects, 64 MiB held",
             _it(4, 8, 16, "--rounds"), "medium_batch", ["--min-size", "65536", "--max-size", "1048576"]),
    Workload("medium_64k_1m_mt2", "bin", "the same, 2 threads at once",
             _it(None, 8, 16, "--rounds"), "medium_batch",
             ["--min-size", "65536", "--max-size", "1048576", "--threads", "2"]),
    Workload("realloc_growth", "bin",
             "10k strings grown by exact-size realloc (+1..256 B) to 1-64 KiB, checked; RSS after free",
             _it(None, 10000, 10000, "--strings"), "realloc_growth",
             extra_keys=["rss_at_peak_kb", "rss_after_free_kb"]),
    Workload("thread_churn", "bin", "create/join threads (2 at a time), each mallocs 1,000 objects",
             _it(1000, 2000, 10000, "--threads-total"), "thread_churn",
             extra_keys=["us_per_thread"]),
    Workload("cold_start", "bin", "first touch: N MiB of 64-byte objects at process start",
             _it(128, 256, 256, "--mb"), "cold_start",
             extra_keys=["heap_rss_kb", "overhead_pct", "free_seconds"]),
    Workload("python", "python", "CPython (PYTHONMALLOC=malloc) running bench/apps/py_alloc.py",
             _it(40000, 60000, 200000, "--scale")),
    Workload("sqlite", "sqlite", "sqlite3 CLI, in-memory DB: insert, index, join, group, update",
             _it(50000, 200000, 500000, "--rows")),
    Workload("redis", "redis", "redis-server (measured) + redis-benchmark on 127.0.0.1",
             _m(["-n", "10000"], ["-n", "100000"], ["-n", "300000"]),
             extra_keys=["requests_per_sec", "server_maxrss_kb"]),
    Workload("git", "git", "git: init, add, 4 commits, repack, log, diff, grep, fsck (short processes)",
             _it(100, 200, 400, "--files")),
    Workload("gxx", "gxx", "g++ -c of a CLI11-heavy workload source (cc1plus allocates a lot)",
             _m(None, ["-O1"], ["-O2"])),
    Workload("micro", "micro", "bench_alloc (Google Benchmark) micro-benchmarks",
             _m(None, None, ["--benchmark_min_time=0.05"])),
]

BY_NAME = {w.name: w for w in WORKLOADS}


@dataclass
class Context:
    repo: str
    build_dir: str
    tmpdir: str
    mode: str
    timeout: float


def select(names, mode):
    """Workloads to run: the named ones (all modes allowed), else every one of the mode."""
    if names:
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise SystemExit(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        chosen = [BY_NAME[n] for n in names]
        # A workload skipped in this mode but asked for by name runs with its normal args.
        return [w if w.runs_in(mode) else _with_mode(w, mode, "normal" if w.runs_in("normal") else "full")
                for w in chosen]
    return [w for w in WORKLOADS if w.runs_in(mode)]


def _with_mode(w, mode, source):
    args = dict(w.args)
    args[mode] = w.args[source]
    return Workload(w.name, w.kind, w.description, args, w.binary, w.base, w.extra_keys)


def missing_reason(w, ctx):
    """Why w cannot run here ('' if it can)."""
    if w.kind == "bin":
        path = os.path.join(ctx.build_dir, "bench", w.binary)
        return "" if os.access(path, os.X_OK) else f"{path} not built"
    return apps.missing_reason(w.kind, ctx)


def run(w, alloc, rep, ctx):
    """One measured run of w under alloc -> runner.Measurement."""
    m = runner.Measurement(w.name, alloc.name, rep)
    args = w.command_args(ctx.mode)
    if w.kind == "bin":
        cmd = [os.path.join(ctx.build_dir, "bench", w.binary)] + args
        proc = runner.run(cmd, alloc.env(), timeout=ctx.timeout)
        return runner.measurement_from_proc(m, proc)
    return apps.run(w.kind, m, alloc, args, ctx)
