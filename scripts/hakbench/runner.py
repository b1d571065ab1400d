"""Running one measured process: wall time, rusage of the child (os.wait4: max RSS, page
faults, CPU time, including the child's own waited-for children), stdout/stderr captured
in files (no pipe dead-locks), a timeout, and parsing of the RESULT line."""
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Proc:
    rc: int
    wall: float
    stdout: str
    stderr: str
    maxrss_kb: int = 0
    faults: int = 0
    cpu: float = 0.0
    timed_out: bool = False


def _rc(status):
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return -1


def wait_proc(p, timeout):
    """wait4 on a Popen with a timeout (SIGKILL when it expires); returns (status, rusage, timed_out)."""
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            p.kill()
        except OSError:
            pass

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        if timer:
            timer.cancel()
    p.returncode = _rc(status)  # tell Popen the child is reaped
    return status, ru, timed_out.is_set()


def run(cmd, env, timeout=600, stdin_path=None, cwd=None):
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=stdin, cwd=cwd)
            status, ru, timed_out = wait_proc(p, timeout)
            wall = time.perf_counter() - t0
        finally:
            if stdin_path:
                stdin.close()
        out.seek(0)
        err.seek(0)
        return Proc(rc=_rc(status), wall=wall, stdout=out.read(), stderr=err.read(),
                    maxrss_kb=ru.ru_maxrss, faults=ru.ru_minflt + ru.ru_majflt,
                    cpu=ru.ru_utime + ru.ru_stime, timed_out=timed_out)


def parse_kv_line(line):
    """'TAG k=v k=v ...' -> dict (values stay strings)."""
    fields = {}
    for tok in line.split()[1:]:
        k, sep, v = tok.partition("=")
        if sep:
            fields[k] = v
    return fields


def _num(v):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


CORE_KEYS = {"workload", "threads", "ops", "seconds", "ns_per_op", "ops_per_sec", "faults",
             "faults_per_1m", "peak_rss_kb", "final_rss_kb", "checksum", "corrupt"}


@dataclass
class Measurement:
    """One run of one workload under one allocator."""
    workload: str
    allocator: str
    rep: int
    ok: bool = True
    error: str = ""
    seconds: float | None = None
    ops: int | None = None
    faults: int | None = None
    peak_rss_kb: int | None = None
    final_rss_kb: int | None = None
    checksum: str | None = None
    corrupt: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    extra: dict = field(default_factory=dict)
    rss_series: list = field(default_factory=list)

    @property
    def ops_per_sec(self):
        return self.ops / self.seconds if self.ops and self.seconds else None

    @property
    def ns_per_op(self):
        return self.seconds * 1e9 / self.ops if self.ops and self.seconds else None

    @property
    def faults_per_1m(self):
        return self.faults * 1e6 / self.ops if self.ops and self.faults is not None else None


def measurement_from_proc(m, proc, require_result=True):
    """Fill m from a finished process: the RESULT line where present, the process-level
    numbers (wall time, wait4 rusage) for whatever the line does not give."""
    m.wall, m.cpu = proc.wall, proc.cpu
    if proc.timed_out:
        m.ok, m.error = False, "timeout"
    elif proc.rc != 0:
        m.ok = False
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        m.error = f"exit {proc.rc}: {tail[0][:200]}"
    res = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = parse_kv_line(line)
        elif line.startswith("RSS_SERIES "):
            s = parse_kv_line(line)
            m.rss_series = [int(x) for x in s.get("rss_kb", "").split(",") if x]
            m.extra["interval_ms"] = _num(s.get("interval_ms", "0"))
    if not res and require_result and m.ok:
        m.ok, m.error = False, "no RESULT line"
    m.seconds = float(res["seconds"]) if "seconds" in res else proc.wall
    m.ops = int(res["ops"]) if "ops" in res else m.ops
    m.faults = int(res["faults"]) if "faults" in res else proc.faults
    m.peak_rss_kb = int(res["peak_rss_kb"]) if "peak_rss_kb" in res else proc.maxrss_kb
    m.final_rss_kb = int(res["final_rss_kb"]) if "final_rss_kb" in res else None
    if "checksum" in res:
        m.checksum = res["checksum"]
    m.corrupt = int(res.get("corrupt", "0"))
    if m.corrupt:
        m.ok, m.error = False, f"{m.corrupt} corrupt words"
    for k, v in res.items():
        if k not in CORE_KEYS:
            m.extra[k] = _num(v)
    return m
