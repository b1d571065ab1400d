#!/usr/bin/env python3
"""Compares two JUnit XML files of CPython's regrtest (--junit-xml): the run without
hakmem (base) and the one under LD_PRELOAD=libhakmem.so. Every case must have the same
outcome (passed, skipped, failed, error) in both; prints a summary, exits 1 on any
difference or when fewer than MIN cases ran. Usage: cpython_compare.py BASE PRE MIN"""
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
        out[case.get("name")] = kinds[0] if kinds else "passed"
    return out


def main():
    base, pre, minimum = outcomes(sys.argv[1]), outcomes(sys.argv[2]), int(sys.argv[3])
    count = lambda d, k: sum(1 for v in d.values() if v == k)
    for name, d in (("without hakmem", base), ("with hakmem", pre)):
        print(f"cpython {name}: {len(d)} cases, {count(d, 'passed')} passed, "
              f"{count(d, 'skipped')} skipped, {count(d, 'failure') + count(d, 'error')} failed")
    diffs = sorted(n for n in set(base) | set(pre) if base.get(n) != pre.get(n))
    for n in diffs[:40]:
        print(f"DIFF {n}: without hakmem {base.get(n, 'not run')}, with hakmem {pre.get(n, 'not run')}")
    if diffs:
        print(f"FAIL: {len(diffs)} cases differ")
        return 1
    if count(base, "passed") < minimum:
        print(f"FAIL: only {count(base, 'passed')} cases passed, expected at least {minimum}")
        return 1
    print("PASS: the same cases pass with and without hakmem")
    return 0


if __name__ == "__main__":
    sys.exit(main())
