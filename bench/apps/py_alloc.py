#!/usr/bin/python3
"""py_alloc: an allocation-heavy Python program, run under each allocator by
scripts/compare. Run it with PYTHONMALLOC=malloc so that every object goes through the
malloc under test (by default CPython serves small objects from its own pymalloc arenas),
and PYTHONHASHSEED=0 so that the work is the same on every run.

Phases: build records (dicts of str/int/list/tuple), text building and splitting, sorting,
word counting in dicts, churn (delete half, rebuild), bytearray growth.
Prints one line: RESULT workload=python ops=N checksum=0x... (ops = phase steps).
"""
import argparse
import zlib


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        yield x >> 33


def run(scale, crc):
    rnd = lcg(12345)
    ops = 0
    # 1. records: many small dicts, strings, lists and tuples
    records = []
    for i in range(scale):
        r = next(rnd)
        records.append({
            "id": i,
            "name": "user%d-%x" % (i, r & 0xFFFF),
            "tags": [("t%d" % (r >> k & 31)) for k in range(0, 20, 4)],
            "pos": (r & 1023, (r >> 10) & 1023),
        })
        ops += 1
    # 2. text building and splitting
    text = " ".join(rec["name"] + ":" + ",".join(rec["tags"]) for rec in records)
    words = text.replace(":", " ").replace(",", " ").split()
    ops += len(words)
    crc = zlib.crc32(text[:: max(1, len(text) // 100000)].encode(), crc)
    # 3. sorting (creates key tuples)
    records.sort(key=lambda rec: (rec["pos"][1], rec["name"]))
    crc = zlib.crc32(repr([rec["id"] for rec in records[:1000]]).encode(), crc)
    ops += len(records)
    # 4. word counting
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50]
    crc = zlib.crc32(repr(top).encode(), crc)
    ops += len(words)
    # 5. churn: delete every other record, rebuild with new content
    for rnd_round in range(3):
        del records[::2]
        for i in range(scale // 2):
            r = next(rnd)
            records.append({"id": -i, "blob": "x" * (r % 200), "vals": list(range(r % 16))})
            ops += 1
    crc = zlib.crc32(repr(sorted(len(rec) for rec in records)[:: max(1, scale // 100)]).encode(), crc)
    # 6. growing buffers
    buf = bytearray()
    for i in range(scale):
        buf += b"%d;" % i
        ops += 1
    crc = zlib.crc32(bytes(buf[:: 97]), crc)
    return ops, crc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=200000, help="records per phase")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole program")
    a = ap.parse_args()
    ops, crc = 0, 0
    for _ in range(a.rounds):
        n, crc = run(a.scale, crc)
        ops += n
    print("RESULT workload=python ops=%d checksum=0x%08x" % (ops, crc))


if __name__ == "__main__":
    main()
