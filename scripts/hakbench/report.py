"""Statistics over repetitions, checksum agreement, the markdown report and the stdout table."""
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


@dataclass
class Cell:
    """One (workload, allocator): medians over the successful repetitions."""
    workload: str
    allocator: str
    runs: list
    ok_runs: list = field(default_factory=list)
    seconds: float | None = None
    ops_per_sec: float | None = None
    ns_per_op: float | None = None
    spread: float | None = None       # (max - min) / median of seconds
    faults_per_1m: float | None = None
    faults: float | None = None
    peak_rss_kb: float | None = None
    final_rss_kb: float | None = None
    ratio: float | None = None        # median seconds / best peer's median seconds
    checksum: str | None = None
    checksum_ok: bool = True
    errors: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def compute(self):
        self.ok_runs = [r for r in self.runs if r.ok]
        self.errors = [f"rep {r.rep}: {r.error}" for r in self.runs if not r.ok]
        ok = self.ok_runs
        if not ok:
            return
        secs = [r.seconds for r in ok]
        self.seconds = median(secs)
        if self.seconds:
            self.spread = (max(secs) - min(secs)) / self.seconds
        self.ops_per_sec = median([r.ops_per_sec for r in ok])
        self.ns_per_op = median([r.ns_per_op for r in ok])
        self.faults_per_1m = median([r.faults_per_1m for r in ok])
        self.faults = median([r.faults for r in ok])
        self.peak_rss_kb = median([r.peak_rss_kb for r in ok])
        self.final_rss_kb = median([r.final_rss_kb for r in ok])
        sums = Counter(r.checksum for r in ok if r.checksum)
        self.checksum = sums.most_common(1)[0][0] if sums else None
        if len(sums) > 1:
            self.checksum_ok = False
        keys = {k for r in ok for k, v in r.extra.items() if isinstance(v, (int, float))}
        self.extra = {k: median([r.extra.get(k) for r in ok]) for k in keys}


def build_cells(measurements, workloads, allocators):
    by = defaultdict(list)
    for m in measurements:
        by[(m.workload, m.allocator)].append(m)
    cells = {}
    for w in workloads:
        for a in allocators:
            c = Cell(w.name, a.name, by[(w.name, a.name)])
            c.compute()
            cells[(w.name, a.name)] = c
        peers = [cells[(w.name, a.name)].seconds for a in allocators if a.is_peer]
        peers = [s for s in peers if s]
        best = min(peers) if peers else None
        for a in allocators:
            c = cells[(w.name, a.name)]
            if best and c.seconds:
                c.ratio = c.seconds / best
    return cells


def checksum_problems(cells, workloads, allocators):
    """Messages for every workload whose allocators disagree on the checksum."""
    problems = []
    for w in workloads:
        row = [cells[(w.name, a.name)] for a in allocators]
        for c in row:
            if not c.checksum_ok:
                sums = sorted({r.checksum for r in c.ok_runs if r.checksum})
                problems.append(f"{w.name}/{c.allocator}: checksums differ between repetitions: {sums}")
        sums = Counter(c.checksum for c in row if c.checksum)
        if len(sums) > 1:
            majority = sums.most_common(1)[0][0]
            for c in row:
                if c.checksum and c.checksum != majority:
                    problems.append(f"{w.name}/{c.allocator}: checksum {c.checksum} != {majority} "
                                    f"(the other allocators')")
    return problems


def fmt(x, kind):
    if x is None:
        return "-"
    if kind == "s":
        return f"{x:.3f}" if x >= 0.1 else f"{x * 1e3:.2f}ms"
    if kind == "rate":
        return f"{x / 1e6:.2f}M" if x >= 1e6 else (f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.1f}")
    if kind == "ratio":
        return f"{x:.2f}x"
    if kind == "pct":
        return f"{100 * x:.0f}%"
    if kind == "mb":
        return f"{x / 1024:.1f}"
    if kind == "n":
        return f"{x:,.0f}" if x >= 10 else f"{x:.2f}"
    return str(x)


COLUMNS = ["allocator", "median s", "ops/s", "ns/op", "vs best peer", "spread", "faults/1M ops",
           "peak RSS MB", "final RSS MB", "checksum"]


def cell_row(c):
    if not c.ok_runs:
        return [c.allocator, "FAILED"] + [""] * (len(COLUMNS) - 3) + ["; ".join(c.errors)[:80]]
    check = (c.checksum or "-") if c.checksum_ok else f"MIXED {c.checksum}"
    if c.errors:
        check += f" ({len(c.errors)} failed)"
    return [c.allocator, fmt(c.seconds, "s"), fmt(c.ops_per_sec, "rate"), fmt(c.ns_per_op, "n"),
            fmt(c.ratio, "ratio"), fmt(c.spread, "pct"), fmt(c.faults_per_1m, "n"),
            fmt(c.peak_rss_kb, "mb"), fmt(c.final_rss_kb, "mb"), check]


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def summary_rows(cells, workloads, allocators):
    rows = []
    for w in workloads:
        if w.kind == "micro":  # its wall time is not a measure; see micro_table
            continue
        row = [w.name]
        for a in allocators:
            c = cells[(w.name, a.name)]
            row.append(f"{fmt(c.ratio, 'ratio')}" if c.ok_runs else "FAILED")
        rows.append(row)
    return rows


def text_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(wd) for x, wd in zip(r, widths)).rstrip()
    return "\n".join([line(header), line(["-" * wd for wd in widths])] + [line(r) for r in rows])


def stdout_table(cells, workloads, allocators):
    header = ["workload"] + COLUMNS
    rows = []
    for w in workloads:
        if w.kind == "micro":
            continue
        for a in allocators:
            rows.append([w.name] + cell_row(cells[(w.name, a.name)]))
    return text_table(header, rows)


def micro_table(cells, allocators, bold=False):
    """bench_alloc: (header, rows) of median ns per item per benchmark and allocator."""
    per_alloc = {}
    for a in allocators:
        c = cells.get(("micro", a.name))
        if c is None or not c.ok_runs:
            continue
        names = c.ok_runs[0].extra.get("micro", {}).keys()
        per_alloc[a.name] = {n: median([r.extra.get("micro", {}).get(n) for r in c.ok_runs])
                             for n in names}
    if not per_alloc:
        return [], []
    shown = [a for a in allocators if a.name in per_alloc]
    rows = []
    for n in next(iter(per_alloc.values())):
        vals = [per_alloc[a.name].get(n) for a in shown]
        peer = [v for a, v in zip(shown, vals) if a.is_peer and v]
        best = min(peer) if peer else None
        row = [n]
        for v in vals:
            s = "-" if v is None else f"{v:.1f}"
            row.append(f"**{s}**" if bold and v is not None and v == best else s)
        rows.append(row)
    return ["benchmark"] + [a.name for a in shown], rows
