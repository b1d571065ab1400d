#!/usr/bin/env python3
"""Heap-profile tests (issue 16): programs under LD_PRELOAD=libhakmem.so with the heap
profile on, profiled live from outside with hakmem-stat heap.

  heap_profile_test.py --lib libhakmem.so --stat hakmem-stat --helper heap_helper
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

ARGS = None
LEAK_BYTES = 10240 * 1024
MEDIUM_BYTES = 64 * 65536


def site_has(site, name):
    return any(f["function"] == name for f in site["frames"])


class Profiled:
    """The helper under the heap profile, stopped at 'ready' until closed."""

    def __init__(self, tmp, extra_env):
        env = dict(os.environ)
        env.update({"LD_PRELOAD": ARGS.lib, "HAKMEM_HEAP_PROFILE": "1",
                    "HAKMEM_PROFILE_PATH": tmp})
        env.update(extra_env)
        self.tmp = tmp
        self.proc = subprocess.Popen([ARGS.helper], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", line

    def stat(self, *args, binary=False):
        env = dict(os.environ, HAKMEM_PROFILE_PATH=self.tmp)
        r = subprocess.run([ARGS.stat, "heap", str(self.proc.pid)] + list(args), env=env,
                           capture_output=True, text=not binary, check=True)
        return r.stdout

    def profile(self):
        return json.loads(self.stat("--json"))

    def command(self, cmd, expect):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == expect

    def close(self):
        try:
            self.proc.stdin.write("exit\n")
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = self.proc.wait(timeout=60)
        self.proc.stdout.close()
        return rc


class HeapProfileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hakmem-heap-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def top_site(self, prof):
        return max(prof["sites"], key=lambda s: s["live_bytes"])

    def test_leak_site_tops_within_10_percent(self):
        # 16 KiB mean interval: 640 expected samples of the leak (standard error 4%).
        p = Profiled(self.tmp, {"HAKMEM_HEAP_SAMPLE": "16384", "HAKMEM_HEAP_SEED": "7"})
        try:
            prof = p.profile()
            table = p.stat()
        finally:
            self.assertEqual(p.close(), 0)
        top = self.top_site(prof)
        self.assertTrue(site_has(top, "leak_site"), top["frames"])
        err = abs(top["live_bytes"] - LEAK_BYTES) / LEAK_BYTES
        self.assertLess(err, 0.10, f"estimated {top['live_bytes']} vs {LEAK_BYTES}")
        medium = [s for s in prof["sites"] if site_has(s, "medium_site")]
        self.assertEqual(len(medium), 1)
        self.assertLess(abs(medium[0]["live_bytes"] - MEDIUM_BYTES) / MEDIUM_BYTES, 0.15)
        # The churning site holds nothing at this point.
        churn = sum(s["live_bytes"] for s in prof["sites"] if site_has(s, "churn_site"))
        self.assertLess(churn, 64 * 1024)
        # No frame inside hakmem: neither its library nor its functions.
        for s in prof["sites"]:
            for f in s["frames"]:
                self.assertFalse(f["module"].endswith("libhakmem.so"), f)
                self.assertFalse(f["function"].startswith(("hak_", "hakmem::")), f)
        # The table names the site with its file and line (debug info of the helper).
        self.assertIn("leak_site (heap_helper.c:", table)
        self.assertIn("top call sites by live bytes", table)

    def test_default_rate_finds_the_leak(self):
        # One sample point per 512 KiB block: the 10 MiB leak is one run in its size class
        # (1 KiB), 20 blocks, so its estimate is off by less than two points, 10% (a Poisson
        # sampler's standard error here is 22%). The target at the default rate;
        # heap_accuracy_test.cpp checks the estimator over 96 streams.
        p = Profiled(self.tmp, {"HAKMEM_HEAP_SEED": "11"})
        try:
            prof = p.profile()
        finally:
            self.assertEqual(p.close(), 0)
        self.assertEqual(prof["sample_bytes"], 524288)
        top = self.top_site(prof)
        self.assertTrue(site_has(top, "leak_site"), top["frames"])
        self.assertLessEqual(abs(top["live_bytes"] - LEAK_BYTES) / LEAK_BYTES, 0.10)

    def test_free_removes_and_diff_shows_it(self):
        p = Profiled(self.tmp, {"HAKMEM_HEAP_SAMPLE": "16384", "HAKMEM_HEAP_SEED": "3"})
        try:
            before_path = os.path.join(self.tmp, "before.json")
            with open(before_path, "w") as f:
                f.write(p.stat("--json"))
            p.command("free", "freed")
            after = p.profile()
            diff = p.stat("--diff", before_path)
        finally:
            self.assertEqual(p.close(), 0)
        leak = sum(s["live_bytes"] for s in after["sites"] if site_has(s, "leak_site"))
        # Freed objects are forgotten when they go back to slabs; at most a bin's worth
        # (128 objects of 1 KiB) may still sit in the thread's cache.
        self.assertLess(leak, 256 * 1024)
        self.assertIn("call sites by growth", diff)
        self.assertIn("leak_site", diff)
        self.assertIn("-", diff.split("call sites by growth")[1].split("\n")[2])

    def test_allocations_made_for_hakmem_show_no_hakmem_frame(self):
        # Freeing the 10 MiB leak crosses the background purger's threshold, so free()
        # itself starts the purger thread, and pthread_create allocates the new thread's TLS
        # with calloc from inside hakmem's free. Sampling every 16 bytes catches that calloc:
        # its stack must stop at the C library (pthread_create), with no frame of hakmem's.
        p = Profiled(self.tmp, {"HAKMEM_HEAP_SAMPLE": "16", "HAKMEM_HEAP_SEED": "5",
                                "HAKMEM_BACKGROUND": "auto"})
        try:
            p.command("free", "freed")
            prof = p.profile()
        finally:
            self.assertEqual(p.close(), 0)
        for s in prof["sites"]:
            for f in s["frames"]:
                self.assertFalse(f["module"].endswith("libhakmem.so"), s["frames"])
                self.assertFalse(f["function"].startswith(("hak_", "hakmem::")), s["frames"])
        # The purger's start was sampled: a site whose outermost frame is pthread_create.
        created = [s for s in prof["sites"]
                   if any(f["function"].startswith("pthread_create") for f in s["frames"])]
        self.assertTrue(created, [s["frames"] for s in prof["sites"]][:20])
        self.assertTrue(all(s["frames"][0]["function"].startswith("pthread_create") for s in created),
                        [s["frames"] for s in created])

    def test_exports_parse(self):
        p = Profiled(self.tmp, {"HAKMEM_HEAP_SAMPLE": "65536", "HAKMEM_HEAP_SEED": "1"})
        svg = os.path.join(self.tmp, "f.svg")
        pb = os.path.join(self.tmp, "p.pb.gz")
        try:
            folded = p.stat("--folded")
            p.stat("--svg", svg, "--pprof", pb)
        finally:
            self.assertEqual(p.close(), 0)
        lines = folded.strip().split("\n")
        self.assertTrue(lines)
        total = 0
        for line in lines:
            stack, value = line.rsplit(" ", 1)
            total += int(value)
            self.assertTrue(stack.startswith("_start;"), stack)
        self.assertTrue(any(l.split(" ")[0].endswith(";main;leak_site") for l in lines), lines)
        # SVG: well-formed XML with one rectangle per frame box.
        root = ET.parse(svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        titles = [t.text for t in root.iter(ns + "title")]
        self.assertTrue(any(t.startswith("leak_site ") for t in titles), titles)
        self.assertGreater(len(list(root.iter(ns + "rect"))), 4)
        # pprof: gzip, then the protobuf wire format decoded by hand.
        prof = decode(gzip.open(pb).read())
        strings = [s.decode() for s in prof.get(6, [])]
        self.assertEqual(strings[0], "")
        types = [strings[decode(vt)[1][0]] for vt in prof[1]]
        self.assertEqual(types, ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"])
        funcs = {decode(f)[1][0]: strings[decode(f)[2][0]] for f in prof[5]}
        locs = {}
        for l in prof[4]:
            d = decode(l)
            locs[d[1][0]] = funcs[decode(d[4][0])[1][0]]
        inuse = 0
        leak_inuse = 0
        for s in prof[2]:
            d = decode(s)
            ids = varints(d[1][0])
            vals = varints(d[2][0])
            inuse += vals[3]
            if ids and locs[ids[0]] == "leak_site":
                leak_inuse += vals[3]
        self.assertEqual(inuse, total)
        self.assertGreater(leak_inuse, 0)
        if shutil.which("go"):
            r = subprocess.run(["go", "tool", "pprof", "-top", "-sample_index=inuse_space", pb],
                               capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                self.assertIn("leak_site", r.stdout)

    def test_real_program(self):
        # python3 under the heap profile: its allocation sites are found and symbolised.
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
        env = dict(os.environ, LD_PRELOAD=ARGS.lib, HAKMEM_HEAP_PROFILE="1",
                   HAKMEM_HEAP_SAMPLE="65536", HAKMEM_PROFILE_PATH=self.tmp)
        # Strings beyond 512 bytes: smaller objects come from pymalloc's arenas, not malloc.
        code = ("import sys\nkeep=[str(i)*200 for i in range(20000)]\n"
                "print('ready', flush=True)\nsys.stdin.readline()\n")
        proc = subprocess.Popen([py, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env=env, text=True)
        try:
            self.assertEqual(proc.stdout.readline().strip(), "ready")
            r = subprocess.run([ARGS.stat, "heap", str(proc.pid), "--json"], capture_output=True,
                               text=True, check=True, env=dict(os.environ, HAKMEM_PROFILE_PATH=self.tmp))
        finally:
            proc.stdin.write("\n")
            proc.stdin.close()
            self.assertEqual(proc.wait(timeout=60), 0)
            proc.stdout.close()
        prof = json.loads(r.stdout)
        self.assertGreater(prof["live_bytes"], 12 << 20)  # 20000 strings of ~1 KB
        funcs = {f["function"] for s in prof["sites"] for f in s["frames"]}
        self.assertTrue(any(f.startswith(("PyUnicode", "_PyUnicode", "PyObject_Malloc",
                                          "_PyObject", "PyList")) for f in funcs), sorted(funcs)[:40])
        for s in prof["sites"]:
            for f in s["frames"]:
                self.assertFalse(f["module"].endswith("libhakmem.so"), f)

    def test_leaks_at_exit(self):
        env = dict(os.environ, LD_PRELOAD=ARGS.lib, HAKMEM_HEAP_PROFILE_LEAKS="1",
                   HAKMEM_HEAP_SAMPLE="16384", HAKMEM_HEAP_SEED="7", HAKMEM_PROFILE_PATH=self.tmp)
        r = subprocess.run([ARGS.helper], input="exit\n", capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertIn("hakmem: heap profile at exit:", r.stderr)
        first = r.stderr.split("hakmem: leak: ")[1]
        est = int(first.split(" ")[0])
        self.assertLess(abs(est - LEAK_BYTES) / LEAK_BYTES, 0.10)
        self.assertIn("heap_helper", first.split("hakmem: leak: ")[0])

    def test_records_of_gone_processes_do_not_pile_up(self):
        # Outside a session each profiled process, as it starts, removes the records of the
        # processes that are gone (allocator/profile_reap.hpp): after 300 programs only the
        # records of those that exited since the last start stay (bash's and the last one's).
        dead = next(p for p in range(4_000_000, 3_000_000, -7) if not os.path.exists(f"/proc/{p}"))
        planted = [f"hakmem-{dead}", f"hakmem-{dead}.heap", f"hakmem-{dead}.vfs",
                   f"hakmem-{os.getpid()}", "hakmem-session-x", "mine-12"]
        for name in planted:
            open(os.path.join(self.tmp, name), "w").close()
        env = dict(os.environ, LD_PRELOAD=ARGS.lib, HAKMEM_PROFILE="1", HAKMEM_HEAP_PROFILE="1",
                   HAKMEM_PROFILE_PATH=self.tmp)
        subprocess.run(["bash", "-c", "for i in $(seq 300); do /bin/true; done"], env=env,
                       check=True, timeout=240)
        left = sorted(os.listdir(self.tmp))
        # Kept: a live process's record, names not of the default form, the session's.
        for name in planted[3:]:
            self.assertIn(name, left)
        records = [n for n in left if n not in planted]
        self.assertLessEqual(len(records), 4, records)  # two processes, .heap beside each
        self.assertTrue(all(n.startswith("hakmem-") for n in records), records)
        # The newest stays for a look after the end.
        newest = max((n for n in records if "." not in n), key=lambda n: os.path.getmtime(
            os.path.join(self.tmp, n)))
        show = subprocess.run([ARGS.stat, "show", os.path.join(self.tmp, newest)], capture_output=True,
                              text=True, check=True).stdout
        self.assertIn("exited", show)

    @unittest.skipUnless(shutil.which("make") and shutil.which("cc"), "make and cc")
    def test_session_over_make_j2(self):
        # The "done when": a session over a real multi-process job (make -j2 of a small
        # C project: make, sh, cc, cc1, as, collect2, ld) sums the counters and call sites
        # of all its processes and leaves nothing behind but the session's records.
        src = os.path.join(self.tmp, "src")
        recs = os.path.join(self.tmp, "records")
        os.mkdir(src)
        os.mkdir(recs)
        for i in range(12):
            with open(os.path.join(src, f"m{i}.c"), "w") as f:
                f.write(f"#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
                        f"int f{i}(int n) {{ char* p = malloc(n); memset(p, {i}, n); "
                        f"int s = p[n / 2]; free(p); return s; }}\n")
        with open(os.path.join(src, "main.c"), "w") as f:
            f.write("".join(f"int f{i}(int);\n" for i in range(12)) +
                    "int main(void) { return " + " + ".join(f"f{i}(8)" for i in range(12)) + " > 0 ? 0 : 1; }\n")
        objs = " ".join(f"m{i}.o" for i in range(12)) + " main.o"
        with open(os.path.join(src, "Makefile"), "w") as f:
            f.write(f"prog: {objs}\n\tcc -o $@ $^\n%.o: %.c\n\tcc -O2 -c -o $@ $<\n")
        env = dict(os.environ, LD_PRELOAD=ARGS.lib, HAKMEM_PROFILE="1", HAKMEM_HEAP_PROFILE="1",
                   HAKMEM_HEAP_SAMPLE="4096", HAKMEM_HEAP_SEED="3", HAKMEM_PROFILE_SESSION="build",
                   HAKMEM_PROFILE_PATH=recs)
        subprocess.run(["make", "-j2", "-s"], cwd=src, env=env, check=True, timeout=240,
                       capture_output=True)
        self.assertEqual(subprocess.run([os.path.join(src, "prog")]).returncode, 0)
        self.assertEqual(sorted(os.listdir(recs)), ["hakmem-session-build", "hakmem-session-build.heap"])
        senv = dict(os.environ, HAKMEM_PROFILE_PATH=recs)
        show = subprocess.run([ARGS.stat, "show", "--session", "build"], capture_output=True,
                              text=True, check=True, env=senv).stdout
        folded = int(show.split("session build: ")[1].split(" ")[0])
        self.assertGreaterEqual(folded, 13 * 3)  # at least cc, cc1 and as per object
        heap = json.loads(subprocess.run([ARGS.stat, "heap", "--session", "build", "--json"],
                                         capture_output=True, text=True, check=True, env=senv).stdout)
        self.assertEqual(heap["processes"], folded)
        self.assertGreater(heap["live_bytes"] + heap["alloc_bytes"], 1 << 20)
        modules = {os.path.basename(f["module"]) for s in heap["sites"] for f in s["frames"]}
        # Sites of several of the job's programs, in their own code (cc1 of such small files
        # allocates mostly from its garbage-collected pools, mmap'd, not malloc).
        programs = {m for m in modules if m in ("make", "cc1", "x86_64-linux-gnu-as", "as",
                                                "x86_64-linux-gnu-ld.bfd", "ld", "collect2")}
        self.assertGreaterEqual(len(programs), 3, modules)

    def test_session_over_a_shell_loop(self):
        # 300 short programs in one session: only the session's records stay behind, and
        # they hold the summed counters and the sites of all of them.
        env = dict(os.environ, LD_PRELOAD=ARGS.lib, HAKMEM_PROFILE="1", HAKMEM_HEAP_PROFILE="1",
                   HAKMEM_HEAP_SAMPLE="4096", HAKMEM_PROFILE_SESSION="loop", HAKMEM_PROFILE_PATH=self.tmp)
        start = subprocess.run([ARGS.stat, "session", "start", "loop", "--heap"], capture_output=True,
                               text=True, check=True).stdout
        self.assertIn("HAKMEM_PROFILE_SESSION=loop", start)
        script = f"for i in $(seq 300); do {ARGS.helper} < /dev/null > /dev/null; done"
        subprocess.run(["bash", "-c", script], env=env, check=True, timeout=240)
        self.assertEqual(sorted(os.listdir(self.tmp)),
                         ["hakmem-session-loop", "hakmem-session-loop.heap"])
        senv = dict(os.environ, HAKMEM_PROFILE_PATH=self.tmp)
        show = subprocess.run([ARGS.stat, "show", "--session", "loop"], capture_output=True,
                              text=True, check=True, env=senv).stdout
        # bash, seq and the 300 helpers.
        self.assertIn("session loop: 302 exited process(es) folded, 0 running", show)
        malloc_row = [l for l in show.split("\n") if l.strip().startswith("malloc ")][0]
        mallocs = int(malloc_row.split()[1].replace(",", ""))
        self.assertGreater(mallocs, 300 * 10240)  # each helper's leak alone
        heap = json.loads(subprocess.run([ARGS.stat, "heap", "--session", "loop", "--json"],
                                         capture_output=True, text=True, check=True, env=senv).stdout)
        self.assertEqual(heap["processes"], 302)
        top = max(heap["sites"], key=lambda s: s["live_bytes"])
        self.assertTrue(site_has(top, "leak_site"), top["frames"])
        # Live at exit, summed: 300 times the helper's 10 MiB leak.
        self.assertLess(abs(top["live_bytes"] - 300 * LEAK_BYTES) / (300 * LEAK_BYTES), 0.05)


def varints(buf):
    out, v, shift = [], 0, 0
    for b in buf:
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            out.append(v)
            v, shift = 0, 0
    return out


def decode(buf):
    """protobuf wire format -> {field: [values]} (varints as ints, length-delimited as bytes)."""
    fields, i = {}, 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        elif wire == 2:
            n, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                n |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + n]
            i += n
        else:
            raise ValueError(f"unexpected wire type {wire}")
        fields.setdefault(field, []).append(v)
    return fields


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--stat", required=True)
    ap.add_argument("--helper", required=True)
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
