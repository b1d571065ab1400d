#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus (tests/fuzz/corpus/): one file per scenario, in the op
encoding of fuzz_alloc.cpp (first byte: split point between the two threads' streams; then
per op: op byte, slot byte, op arguments). Rerun after changing the encoding."""
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# size kinds (decode_size): 0 tiny0-31, 1 tiny, 3 small classes, 4 spans, 5|0x80 huge
def size(kind, v):
    return bytes([kind]) + struct.pack("<H", v & 0xFFFF)

def malloc(slot, kind, v): return bytes([0, slot]) + size(kind, v)
def calloc(slot, count, kind, v): return bytes([2, slot, count]) + size(kind, v)
def realloc(slot, kind, v): return bytes([3, slot]) + size(kind, v)
def posix_memalign(slot, shift, kind, v): return bytes([4, slot, shift]) + size(kind, v)
def aligned_alloc(slot, shift, kind, v, memalign=False):
    return bytes([5 | (0x80 if memalign else 0), slot, shift]) + size(kind, v)
def valloc(slot, kind, v): return bytes([6, slot]) + size(kind, v)
def usable(slot): return bytes([7, slot])
def free(slot, sized=False): return bytes([8 | (0x80 if sized else 0), slot])
def handoff(slot): return bytes([10, slot])
def take(flush=False): return bytes([11 | (0x80 if flush else 0), 0])

def stream(ops): return b"".join(ops)

def both(a, b):
    split = 1 + len(a)
    total = split + len(b)
    first = 0
    # The byte that gives exactly this split (fuzz_alloc.cpp: 1 + (size-1)*d/255).
    for d in range(256):
        if 1 + (total - 1) * d // 255 == split:
            first = d
            break
    return bytes([first]) + a + b

def scenarios():
    rnd = random.Random(14)
    every_kind = []
    for s, (k, v) in enumerate([(0, 0), (0, 17), (1, 100), (1, 1000), (3, 0), (3, 31000),
                                (4, 10), (4, 60000), (5 | 0x80, 100), (6, 300)]):
        every_kind += [malloc(s, k, v), usable(s)]
    every_kind += [free(s) for s in range(10)]
    yield "every_size_kind", both(stream(every_kind), b"")

    re = [malloc(0, 1, 10)]
    for k, v in [(1, 200), (3, 5000), (4, 20000), (5 | 0x80, 40), (4, 100), (1, 8), (0, 0)]:
        re += [realloc(0, k, v), usable(0)]
    yield "realloc_chain", both(stream(re), stream(re))

    al = []
    for s in range(14):
        al += [posix_memalign(s, s, 1 + s % 4, 1000 + s), aligned_alloc(s + 1, s + 3, 3, 999),
               aligned_alloc(s + 2, s, 1, 77, memalign=True), valloc(s + 3, 1, 4000)]
    al += [free(s, sized=True) for s in range(24)]
    yield "aligned", both(stream(al), stream([calloc(i, 7, 1, 500) for i in range(8)]))

    a = []
    b = []
    for i in range(40):
        a += [malloc(i % 24, rnd.choice([1, 1, 3, 4]), rnd.randrange(65536)), handoff(i % 24)]
        b += [take(flush=(i % 7 == 0)), malloc(i % 24, 1, rnd.randrange(65536)), handoff(i % 24)]
        a += [take()]
    yield "cross_thread", both(stream(a), stream(b))

    for n in range(4):
        ops = []
        for _ in range(300):
            ops.append(rnd.choice([
                lambda: malloc(rnd.randrange(24), rnd.randrange(8), rnd.randrange(65536)),
                lambda: calloc(rnd.randrange(24), rnd.randrange(64), rnd.randrange(5), rnd.randrange(65536)),
                lambda: realloc(rnd.randrange(24), rnd.randrange(5), rnd.randrange(65536)),
                lambda: posix_memalign(rnd.randrange(24), rnd.randrange(14), rnd.randrange(4), rnd.randrange(65536)),
                lambda: free(rnd.randrange(24), rnd.random() < 0.5),
                lambda: handoff(rnd.randrange(24)),
                lambda: take(rnd.random() < 0.1),
                lambda: usable(rnd.randrange(24)),
            ])())
        half = len(ops) // 2
        yield f"random_{n}", both(stream(ops[:half]), stream(ops[half:]))

def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in scenarios():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)

if __name__ == "__main__":
    main()
