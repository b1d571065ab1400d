"""An allocation-heavy, deterministic Python workload for the LD_PRELOAD test.

Dicts, lists, strings, bytes, JSON, regexes, object graphs with cycles and a thread pool;
prints one digest per section. Run with PYTHONHASHSEED=0. Options:
  --expect-hakmem  exit 3 unless libhakmem is mapped into this process
  --quick          smaller sizes
"""
import collections
import gc
import hashlib
import json
import random
import re
import sys
from concurrent.futures import ThreadPoolExecutor

QUICK = "--quick" in sys.argv
SCALE = 10 if QUICK else 1


def digest(*objs):
    h = hashlib.sha256()
    for o in objs:
        h.update(repr(o).encode())
    return h.hexdigest()[:16]


def section(name, *objs):
    print(f"{name:12s} {digest(*objs)}")


def dicts(rng):
    d = {}
    for i in range(200000 // SCALE):
        d[f"key{i:07d}-{rng.randrange(1 << 30)}"] = [i, str(i) * (i % 7), {"v": i * i}]
    for i, k in enumerate(list(d)):
        if i % 2:
            del d[k]
    for i in range(50000 // SCALE):  # regrow after deletions
        d[f"again{i}"] = (i, "x" * (i % 100))
    section("dicts", len(d), sum(v[0] for v in d.values()), list(d)[-3:])


def strings(rng):
    s = ",".join(str(rng.random()) for _ in range(100000 // SCALE))
    parts = s.split(",")
    up = [p.upper().replace("0.", "Z") for p in parts]
    joined = "".join(reversed(up))
    fmt = ["%s-%d-%08.3f" % (p[:5], i, i / 7) for i, p in enumerate(parts)]
    section("strings", len(s), sorted(parts)[:5], joined[1000:1100], fmt[-2:])


def lists(rng):
    big = [[rng.randrange(1000) for _ in range(rng.randrange(1, 50))] for _ in range(50000 // SCALE)]
    big.sort()
    flat = [x for row in big for x in row]
    sl = flat[::3] + flat[1::5]
    del flat[::2]
    section("lists", big[:3], big[-3:], len(flat), sum(sl))


def buffers(rng):
    ba = bytearray()
    for i in range(20000 // SCALE):
        ba += bytes([i % 256]) * (i % 300)
        if i % 1000 == 999:
            del ba[: len(ba) // 3]
    chunks = [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 2000))) for _ in range(500 // SCALE)]
    section("buffers", hashlib.md5(ba).hexdigest(), len(ba), hashlib.md5(b"".join(chunks)).hexdigest())


def jsons():
    obj = [{"id": i, "name": "n" * (i % 50), "tags": list(range(i % 10)), "f": i / 3} for i in range(50000 // SCALE)]
    js = json.dumps(obj, sort_keys=True)
    back = json.loads(js)
    section("json", len(js), back[1234 // SCALE], json.dumps(back[-1]))


class Node:
    def __init__(self, i):
        self.i = i
        self.children = []
        self.parent = None
        self.payload = "p" * (i % 64)


def graphs():
    total = 0
    for round_ in range(20 // min(SCALE, 4)):
        nodes = [Node(i) for i in range(20000 // SCALE)]
        for i, n in enumerate(nodes[1:], 1):
            p = nodes[(i * 7919) % i]
            n.parent = p  # cycles: parent <-> children
            p.children.append(n)
        total += sum(len(n.children) for n in nodes) + round_
        del nodes
        total += gc.collect() >= 0
    section("graphs", total)


def regex_counter(rng):
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randrange(1, 8))) for _ in range(100000 // SCALE)]
    text = " ".join(words)
    found = re.findall(r"\b[a-e]+\b", text)
    c = collections.Counter(found)
    section("regex", len(found), sorted(c.most_common(10)))


def threads():
    def work(n):
        r = random.Random(n)
        acc = []
        for _ in range(20000 // SCALE):
            acc.append(str(r.random()) * r.randrange(1, 20))
            if len(acc) > 100:
                acc = acc[50:]
        return sum(len(a) for a in acc), n

    with ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(work, range(16)))
    section("threads", results)


def main():
    if "--expect-hakmem" in sys.argv:
        with open("/proc/self/maps") as f:
            if "libhakmem" not in f.read():
                print("libhakmem is not mapped into python", file=sys.stderr)
                sys.exit(3)
    rng = random.Random(12345)
    dicts(rng)
    strings(rng)
    lists(rng)
    buffers(rng)
    jsons()
    graphs()
    regex_counter(rng)
    threads()
    print("done")


if __name__ == "__main__":
    main()
