"""PNG charts of a comparison (matplotlib, Agg backend). Returns [(title, path)]; an empty
list (and a note on stderr) when matplotlib is not available."""
import sys


def _plt():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print("compare: matplotlib not available, no charts (apt install python3-matplotlib "
              "and run with /usr/bin/python3)", file=sys.stderr)
        return None


COLORS = {"glibc": "#7f7f7f", "jemalloc": "#1f77b4", "mimalloc": "#2ca02c",
          "tcmalloc": "#ff7f0e", "tcmalloc_full": "#d62728", "hakmem": "#9467bd"}
# Extra peers (--peer NAME=PATH) get these in order of first use, so no two bars share a
# colour (matplotlib's own cycle would repeat the fixed ones above).
EXTRA_COLORS = ["#8c564b", "#17becf", "#e377c2", "#bcbd22", "#000000", "#aec7e8"]


def color(name):
    if name not in COLORS:
        used = sum(1 for n in COLORS if n not in
                   ("glibc", "jemalloc", "mimalloc", "tcmalloc", "tcmalloc_full", "hakmem"))
        COLORS[name] = EXTRA_COLORS[used % len(EXTRA_COLORS)]
    return COLORS[name]


def _grouped(plt, path, title, ylabel, workloads, allocators, value, log=False, err=None, ref=None):
    names = [w.name for w in workloads]
    n = max(1, len(allocators))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(names) + 2), 5.5))
    for i, a in enumerate(allocators):
        xs, ys, lo, hi = [], [], [], []
        for j, w in enumerate(workloads):
            v = value(w, a)
            if v is None or (log and v <= 0):
                continue
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(v)
            e = err(w, a) if err else None
            lo.append(v - e[0] if e else 0)
            hi.append(e[1] - v if e else 0)
        ax.bar(xs, ys, width, label=a.name, color=color(a.name),
               yerr=[lo, hi] if err else None, capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    if ref is not None:  # ratio chart: readable ticks around 1
        ax.axhline(ref, color="black", linewidth=0.8)
        lo, hi = ax.get_ylim()
        ticks = [t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 50, 100) if lo <= t <= hi]
        ax.set_yticks(ticks)
        ax.set_yticklabels([f"{t:g}x" for t in ticks])
        ax.minorticks_off()
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncol=min(5, n))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(prefix, cells, workloads, allocators):
    plt = _plt()
    if plt is None:
        return []
    ws = [w for w in workloads if w.kind != "micro"]
    out = []
    if not ws:
        return out

    def ratio_err(w, a):
        c = cells[(w.name, a.name)]
        if not c.ok_runs or not c.ratio:
            return None
        secs = [r.seconds for r in c.ok_runs]
        base = c.seconds / c.ratio
        return (min(secs) / base, max(secs) / base)

    path = f"{prefix}-time.png"
    _grouped(plt, path, "Time vs best peer (median; whiskers = min..max of repetitions; "
             "lower is better; log scale)", "time / best peer's median", ws, allocators,
             lambda w, a: cells[(w.name, a.name)].ratio, log=True, err=ratio_err, ref=1.0)
    out.append(("Time vs best peer", path))

    path = f"{prefix}-faults.png"
    _grouped(plt, path, "Page faults per 1M operations (median, log scale)", "faults / 1M ops",
             [w for w in ws if any(cells[(w.name, a.name)].faults_per_1m for a in allocators)],
             allocators, lambda w, a: cells[(w.name, a.name)].faults_per_1m, log=True)
    out.append(("Page faults per 1M operations", path))

    path = f"{prefix}-rss.png"
    _grouped(plt, path, "Peak RSS (median, MiB, log scale)", "MiB", ws, allocators,
             lambda w, a: (cells[(w.name, a.name)].peak_rss_kb or 0) / 1024, log=True)
    out.append(("Peak RSS", path))

    frag = [w for w in ws if w.name == "fragmentation"]
    if frag:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for a in allocators:
            c = cells[("fragmentation", a.name)]
            if not c.ok_runs or not c.ok_runs[0].rss_series:
                continue
            run = c.ok_runs[len(c.ok_runs) // 2]  # a middle repetition
            dt = run.extra.get("interval_ms", 100) / 1000
            ax.plot([i * dt for i in range(len(run.rss_series))],
                    [v / 1024 for v in run.rss_series], marker=".", label=a.name,
                    color=color(a.name))
        live = [cells[("fragmentation", a.name)].extra.get("live_kb_after_free") for a in allocators]
        live = [v for v in live if v]
        if live:
            ax.axhline(live[0] / 1024, color="black", linestyle="--", linewidth=1,
                       label="live data (requested bytes)")
        ax.set_xlabel("seconds after freeing 90% of the objects")
        ax.set_ylabel("RSS (MiB)")
        ax.set_title("fragmentation: RSS while idle after the mass free")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = f"{prefix}-rss-series.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(("fragmentation: RSS while idle", path))
    return out
