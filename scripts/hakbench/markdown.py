"""The markdown report: results/compare-<date>.md."""
import os

from . import report


def _micro_section(cells, allocators):
    header, rows = report.micro_table(cells, allocators, bold=True)
    if not rows:
        return []
    return ["## Micro-benchmarks (bench_alloc): ns per item, median; bold = best peer", "",
            report.md_table(header, rows), ""]


def write(path, info, cells, workloads, allocators, skipped, problems, charts):
    ran = [a for a in allocators]
    lines = [f"# Allocator comparison, {info['date']}", ""]
    lines += [f"- mode: **{info['mode']}**, repetitions: {info['reps']}, allocators alternating "
              f"within each repetition ({' '.join(a.name for a in ran)})",
              f"- command: `{info['command']}`",
              f"- machine: {info['machine']}",
              f"- other load during the run: {info['other_load']}",
              f"- allocator environment: `{info.get('env', 'none')}`",
              f"- total time: {info['duration']:.0f} s; git: {info['git']}", ""]
    for a in allocators:
        lines.append(f"- {a.name}: {a.lib or 'no preload (the C library malloc)'}")
    for a in skipped:
        lines.append(f"- **{a.name}: {a.reason}**")
    lines += ["", "Times are medians over the repetitions; *vs best peer* = median time / the best "
              "median among glibc, jemalloc, mimalloc and tcmalloc (lower is better); spread = "
              "(max - min) / median of the repetitions' times. Absolute times on this machine move "
              "20-60% between runs; ratios within one run hold (see BENCHMARKING.md).", ""]
    lines += ["## Checksums", ""]
    if problems:
        lines += ["**MISMATCHES:**", ""] + [f"- {p}" for p in problems]
    else:
        lines.append("Every allocator computed the same checksum for every workload that has one.")
    lines += ["", "## Summary: time vs best peer", "",
              report.md_table(["workload"] + [a.name for a in ran],
                              report.summary_rows(cells, workloads, ran)), ""]
    for w in workloads:
        if w.kind == "micro":
            continue
        lines += [f"## {w.name}", "", f"{w.description}. Arguments: `{' '.join(w.command_args(info['mode']))}`", ""]
        rows = [report.cell_row(cells[(w.name, a.name)]) for a in ran]
        lines += [report.md_table(report.COLUMNS, rows), ""]
        if w.extra_keys:
            xrows = [[a.name] + [report.fmt(cells[(w.name, a.name)].extra.get(k), "n")
                                 for k in w.extra_keys] for a in ran]
            lines += [report.md_table(["allocator"] + w.extra_keys, xrows), ""]
        errors = [f"- {a.name}: " + "; ".join(cells[(w.name, a.name)].errors)
                  for a in ran if cells[(w.name, a.name)].errors]
        if errors:
            lines += ["Failures:", ""] + errors + [""]
    lines += _micro_section(cells, ran)
    if charts:
        lines += ["## Charts", ""]
        for title, png in charts:
            lines += [f"### {title}", "", f"![{title}]({os.path.basename(png)})", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
