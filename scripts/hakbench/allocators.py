"""The allocators compared, and how each is loaded into a process (LD_PRELOAD)."""
import os
import subprocess
from dataclasses import dataclass

LIBDIR = "/usr/lib/x86_64-linux-gnu"
# glibc needs no preload, except in programs linked against another allocator (Debian's
# redis-server links jemalloc): there libc.so.6 is preloaded so that glibc's malloc wins.
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"

PEERS = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
DEFAULT = PEERS + ["hakmem"]

KNOWN = {
    "glibc": None,
    "jemalloc": f"{LIBDIR}/libjemalloc.so.2",
    "mimalloc": f"{LIBDIR}/libmimalloc.so.2",
    # tcmalloc_minimal is the allocator alone; the full libtcmalloc adds the heap profiler
    # and checker hooks. Use "tcmalloc_full" to measure that one.
    "tcmalloc": f"{LIBDIR}/libtcmalloc_minimal.so.4",
    "tcmalloc_full": f"{LIBDIR}/libtcmalloc.so.4",
}


@dataclass
class Allocator:
    name: str
    lib: str | None      # path to preload; None = the process's own malloc (glibc)
    available: bool = True
    reason: str = ""     # why it is skipped

    @property
    def is_peer(self):
        return self.name != "hakmem" and not self.name.startswith("hakmem")

    def env(self, base=None, force_preload_libc=False):
        """Environment for a process run under this allocator."""
        env = dict(os.environ if base is None else base)
        env.pop("LD_PRELOAD", None)
        if self.lib:
            env["LD_PRELOAD"] = self.lib
        elif force_preload_libc:
            env["LD_PRELOAD"] = LIBC
        return env


# The newest upstream releases, built from their public sources beside the project (never
# required: used only when present).
SHARED_PEERS = [("mimalloc3.4", "libmimalloc-3.4.3.so"), ("snmalloc0.7", "libsnmalloc-0.7.5.so")]


def shared_peers(repo):
    """(name, path) of the upstream peers present in ../shared/peers/."""
    base = os.path.join(os.path.dirname(os.path.abspath(repo)), "shared", "peers")
    return [(n, os.path.join(base, f)) for n, f in SHARED_PEERS
            if os.path.exists(os.path.join(base, f))]


def find_hakmem(build_dirs):
    for d in build_dirs:
        for cand in ("libhakmem.so", "allocator/libhakmem.so", "lib/libhakmem.so"):
            p = os.path.join(d, cand)
            if os.path.exists(p):
                return os.path.abspath(p)
    return None


def check_loads(lib):
    """'' if a process started with LD_PRELOAD=lib really maps lib, else the reason.
    (ld.so only warns and carries on when a preload fails, which would silently measure
    glibc under another allocator's name.)"""
    env = dict(os.environ, LD_PRELOAD=lib)
    try:
        out = subprocess.run(["/bin/cat", "/proc/self/maps"], env=env, capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"preload test failed: {e}"
    real = os.path.basename(os.path.realpath(lib))
    if real not in out.stdout and os.path.basename(lib) not in out.stdout:
        err = out.stderr.strip().splitlines()
        return "not loaded by ld.so" + (f": {err[0]}" if err else "")
    return ""


def resolve(spec, build_dirs, hakmem_lib=None):
    """spec: comma-separated names, each NAME or NAME=/path/to/lib.so."""
    result = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        name, _, path = item.partition("=")
        if path:
            lib = os.path.abspath(path)
        elif name.startswith("hakmem"):
            lib = hakmem_lib or find_hakmem(build_dirs)
            if lib is None:
                result.append(Allocator(name, None, False, "skipped: not built (no libhakmem.so in "
                                        + ", ".join(build_dirs) + ")"))
                continue
        elif name in KNOWN:
            lib = KNOWN[name]
        else:
            result.append(Allocator(name, None, False, "skipped: unknown allocator (use NAME=/path.so)"))
            continue
        if lib is not None and not os.path.exists(lib):
            result.append(Allocator(name, lib, False, f"skipped: {lib} is missing"))
            continue
        reason = check_loads(lib) if lib else ""
        result.append(Allocator(name, lib, not reason, f"skipped: {reason}" if reason else ""))
    return result
