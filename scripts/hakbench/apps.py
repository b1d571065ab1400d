"""Real applications run under each allocator: CPython, sqlite3, redis-server, g++, and the
bench_alloc micro-benchmark suite. Each run fills a runner.Measurement."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from . import runner

PYTHON = "/usr/bin/python3"  # the system interpreter: the same program under every allocator
GXX_SOURCE = "bench/workloads/fault_storm.cpp"


def missing_reason(kind, ctx):
    need = {"python": [PYTHON], "sqlite": ["sqlite3"], "redis": ["redis-server", "redis-benchmark"],
            "gxx": ["g++"], "git": ["git"], "micro": []}[kind]
    for tool in need:
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    if kind == "micro" and not os.access(os.path.join(ctx.build_dir, "bench", "bench_alloc"), os.X_OK):
        return "bench_alloc not built"
    return ""


def run(kind, m, alloc, args, ctx):
    return {"python": _python, "sqlite": _sqlite, "redis": _redis, "gxx": _gxx, "git": _git,
            "micro": _micro}[kind](m, alloc, args, ctx)


def _digest(data):
    return "0x" + hashlib.sha256(data).hexdigest()[:16]


def _python(m, alloc, args, ctx):
    env = alloc.env()
    env.update(PYTHONMALLOC="malloc", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    cmd = [PYTHON, os.path.join(ctx.repo, "bench/apps/py_alloc.py")] + args
    proc = runner.run(cmd, env, timeout=ctx.timeout)
    return runner.measurement_from_proc(m, proc, require_result=False)


def _sqlite(m, alloc, args, ctx):
    rows = int(args[args.index("--rows") + 1])
    sql_path = os.path.join(ctx.tmpdir, f"sqlite-{rows}.sql")
    if not os.path.exists(sql_path):
        with open(os.path.join(ctx.repo, "bench/apps/sqlite_workload.sql")) as f:
            sql = f.read().replace("__ROWS__", str(rows))
        with open(sql_path, "w") as f:
            f.write(sql)
    proc = runner.run(["sqlite3", ":memory:"], alloc.env(), timeout=ctx.timeout, stdin_path=sql_path)
    runner.measurement_from_proc(m, proc, require_result=False)
    m.ops = 3 * rows  # rows inserted (users + orders)
    if m.ok:
        m.checksum = _digest(proc.stdout.encode())
    return m


def _git(m, alloc, args, ctx):
    """git over a fresh repository: hundreds of short processes (init, add, commits, repack,
    log, diff, grep, fsck), the case where an allocator's start-up cost is the cost."""
    files = int(args[args.index("--files") + 1])
    work = os.path.join(ctx.tmpdir, f"git-{os.getpid()}-{m.rep}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = alloc.env()
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", HOME=work,
               GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@b", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@b", GIT_AUTHOR_DATE="2024-01-02T03:04:05+0000",
               GIT_COMMITTER_DATE="2024-01-02T03:04:05+0000")
    script = os.path.join(ctx.repo, "bench/apps/git_workload.sh")
    proc = runner.run(["bash", script, work, str(files)], env, timeout=ctx.timeout)
    runner.measurement_from_proc(m, proc, require_result=False)
    m.ops = files
    if m.ok:
        m.checksum = _digest(proc.stdout.encode())
    shutil.rmtree(work, ignore_errors=True)
    return m


def _gxx(m, alloc, args, ctx):
    obj = os.path.join(ctx.tmpdir, "gxx.o")
    cmd = ["g++", "-std=c++20", *args, "-frandom-seed=hakmem", "-I", os.path.join(ctx.repo, "bench"),
           "-c", os.path.join(ctx.repo, GXX_SOURCE), "-o", obj]
    proc = runner.run(cmd, alloc.env(), timeout=ctx.timeout)
    runner.measurement_from_proc(m, proc, require_result=False)
    if m.ok:
        with open(obj, "rb") as f:
            m.checksum = _digest(f.read())
    return m


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_ping(port, deadline):
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def _redis(m, alloc, args, ctx):
    """redis-server under the allocator (glibc: libc.so.6 preloaded over its jemalloc),
    redis-benchmark (not preloaded) as the client; the server is what is measured."""
    tests = "set,get,lpush,lpop,hset"
    n = int(args[args.index("-n") + 1])
    port = _free_port()
    workdir = os.path.join(ctx.tmpdir, f"redis-{port}")
    os.makedirs(workdir, exist_ok=True)
    server_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", workdir, "--daemonize", "no",
                  "--protected-mode", "yes", "--loglevel", "warning"]
    log = open(os.path.join(workdir, "server.log"), "w")
    server = subprocess.Popen(server_cmd, env=alloc.env(force_preload_libc=True),
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        if not _redis_ping(port, time.time() + 10):
            m.ok, m.error = False, "redis-server did not answer PING"
            return m
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        # Pipelined clients and values of 64 B, 256 B, then 1 KiB over the same 200k keys:
        # each pass overwrites most values of the last with a bigger one, which is where a
        # size-class allocator's RSS and a malloc's free-memory reuse are tested.
        rps, m.seconds = [], 0.0
        for size in ("64", "256", "1024"):
            bench = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(n), "-c", "16",
                     "-P", "16", "-r", "200000", "-d", size, "-t", tests, "--csv"]
            client = runner.run(bench, env, timeout=ctx.timeout)
            if client.rc != 0 or client.timed_out:
                m.ok, m.error = False, f"redis-benchmark failed: {client.stderr.strip()[:200]}"
                break
            rps += [float(line.split(",")[1].strip('"')) for line in client.stdout.splitlines()
                    if line.startswith('"') and not line.startswith('"test"')]
            m.seconds += client.wall
        m.ops = 3 * n * len(tests.split(","))
        m.extra["requests_per_sec"] = round(sum(rps) / len(rps)) if rps else 0
    finally:
        server.send_signal(signal.SIGTERM)
        status, ru, timed_out = runner.wait_proc(server, 15)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    m.wall, m.cpu = m.seconds or 0.0, ru.ru_utime + ru.ru_stime
    m.faults = ru.ru_minflt + ru.ru_majflt  # the server's, start-up included
    m.peak_rss_kb = ru.ru_maxrss
    m.extra["server_maxrss_kb"] = ru.ru_maxrss
    if m.ok and (timed_out or not os.WIFEXITED(status)):
        m.ok, m.error = False, "redis-server did not exit cleanly on SIGTERM"
    return m


def _micro(m, alloc, args, ctx):
    cmd = [os.path.join(ctx.build_dir, "bench", "bench_alloc"), "--benchmark_format=json"] + args
    proc = runner.run(cmd, alloc.env(), timeout=ctx.timeout)
    runner.measurement_from_proc(m, proc, require_result=False)
    if not m.ok:
        return m
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        m.ok, m.error = False, f"bad JSON from bench_alloc: {e}"
        return m
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    micro = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        if b.get("items_per_second"):
            micro[b["name"]] = 1e9 / b["items_per_second"]  # ns per item (object / call)
        else:
            micro[b["name"]] = b["real_time"] * scale.get(b.get("time_unit", "ns"), 1.0)
    m.extra["micro"] = micro
    return m
