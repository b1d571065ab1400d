#!/usr/bin/env bash
# vfsd against the plain filesystem it writes to, side by side (BENCHMARKING.md protocol:
# the two alternate within each repetition; medians and spreads at the end).
#
# usage: bench/vfs/vfsd_bench.sh PATH/TO/vfsd [WORKDIR=/tmp/vfsd-bench] [REPS=3]
#   WORKDIR's filesystem holds both vfsd's cache dir and the "plain" target, so both sides
#   end up writing the same bytes to the same filesystem. Use a tmpfs WORKDIR (e.g.
#   /dev/shm/vfsd-bench) to take the disk out of the comparison.
# Env: POOL_MB (1024), THREADS (4), SEQ_MB (512), RAND_MB (256), NFILES (5000),
#      SCENARIOS ("seqwrite randwrite seqread randread create stat cp git").
# Every scenario runs in a fresh directory; vfsd is remounted with an empty cache for each.
set -euo pipefail
VFSD=$(realpath "${1:?usage: vfsd_bench.sh path/to/vfsd [workdir] [reps]}")
W=${2:-/tmp/vfsd-bench}
REPS=${3:-3}
POOL_MB=${POOL_MB:-1024}
THREADS=${THREADS:-4}
SEQ_MB=${SEQ_MB:-512}
RAND_MB=${RAND_MB:-256}
NFILES=${NFILES:-5000}
SCENARIOS=${SCENARIOS:-"seqwrite randwrite seqread randread create stat cp git"}
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@e GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@e

mkdir -p "$W"/{src,mnt,plain,data}
RESULTS="$W/results.txt"
: > "$RESULTS"
PID=""

cleanup() {
  mountpoint -q "$W/mnt" && { fusermount3 -u "$W/mnt" 2>/dev/null || umount -l "$W/mnt"; }
  true
}
trap cleanup EXIT

mount_vfsd() {
  rm -rf "$W/cache"
  "$VFSD" "$W/src" "$W/mnt" --writable --cache-dir "$W/cache" --pool-mb "$POOL_MB" --threads "$THREADS" -f \
    > "$W/vfsd.log" 2>&1 &
  PID=$!
  for _ in $(seq 200); do mountpoint -q "$W/mnt" && return 0; sleep 0.05; done
  echo "vfsd did not mount: $(cat "$W/vfsd.log")" >&2
  exit 1
}
umount_vfsd() {
  fusermount3 -u "$W/mnt"
  wait "$PID" || true
  PID=""
}
daemon_cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$PID/stat"; }

# The generated tree for cp/git: NFILES files of 100 B..16 KiB in 50 directories.
if [ ! -f "$W/data/tree.ok" ] || [ "$(cat "$W/data/tree.ok")" != "$NFILES" ]; then
  rm -rf "$W/data/tree"
  python3 - "$W/data/tree" "$NFILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i % 50))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "wb") as f:
        f.write(rnd.randbytes(rnd.randint(100, 16384)))
PY
  echo "$NFILES" > "$W/data/tree.ok"
fi

fio_json() {  # fio_json DIR ARGS... -> prints fio's JSON
  fio --output-format=json --directory="$1" "${@:2}"
}
fio_field() {  # fio_field FIELD (read_bw|write_bw|read_iops|write_iops) < json
  python3 -c "
import json,sys
j=json.load(sys.stdin)['jobs'][0]
f=sys.argv[1]; d,k=f.split('_')
v=j[d]['bw_bytes']/1e6 if k=='bw' else j[d]['iops']
print('%.1f'%v)" "$1"
}

now() { date +%s.%N; }
record() { echo "$1 $2 $3" | tee -a "$RESULTS"; }  # scenario side value

run_one() {  # run_one SCENARIO SIDE TARGET_DIR
  local s=$1 side=$2 t=$3 v c0 c1 t0 t1
  mkdir -p "$t"
  sync
  case $s in
    seqwrite)
      [ -n "$PID" ] && c0=$(daemon_cpu)
      v=$(fio_json "$t" --name=seqw --rw=write --bs=128k --size=${SEQ_MB}M --ioengine=psync --fallocate=none | fio_field write_bw)
      record seqwrite_128k_MBps "$side" "$v"
      if [ -n "$PID" ]; then
        c1=$(daemon_cpu)
        record seqwrite_daemon_cpu_s_per_GB "$side" "$(echo "($c1 - $c0) * 1024 / $SEQ_MB" | bc -l | xargs printf '%.2f')"
      fi
      v=$(fio_json "$t" --name=seqwf --rw=write --bs=128k --size=${SEQ_MB}M --ioengine=psync --fallocate=none --end_fsync=1 | fio_field write_bw)
      record seqwrite_128k_fsync_MBps "$side" "$v" ;;
    randwrite)
      v=$(fio_json "$t" --name=randw --rw=randwrite --bs=4k --size=${RAND_MB}M --ioengine=psync --fallocate=none | fio_field write_iops)
      record randwrite_4k_IOPS "$side" "$v" ;;
    seqread)
      fio_json "$t" --name=seqr --rw=write --bs=1M --size=${SEQ_MB}M --ioengine=psync --fallocate=none > /dev/null
      fio_json "$t" --name=seqr --rw=read --bs=128k --size=${SEQ_MB}M --ioengine=psync --invalidate=0 > /dev/null
      v=$(fio_json "$t" --name=seqr --rw=read --bs=128k --size=${SEQ_MB}M --ioengine=psync --invalidate=0 | fio_field read_bw)
      record seqread_128k_cached_MBps "$side" "$v" ;;
    randread)
      fio_json "$t" --name=randr --rw=write --bs=1M --size=${RAND_MB}M --ioengine=psync --fallocate=none > /dev/null
      v=$(fio_json "$t" --name=randr --rw=randread --bs=4k --size=${RAND_MB}M --ioengine=psync --invalidate=0 --time_based --runtime=3 | fio_field read_iops)
      record randread_4k_cached_IOPS "$side" "$v" ;;
    create)  # open(O_CREAT|O_EXCL) + close of NFILES empty files in one directory
      v=$(python3 - "$t" "$NFILES" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
for i in range(n):
    os.close(os.open("%s/c%06d" % (d, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
print("%.0f" % (n / (time.perf_counter() - t0)))
PY
)
      record creates_per_s "$side" "$v" ;;
    stat)  # lstat of NFILES files, 3 passes (names and attributes cached by the kernel)
      v=$(python3 - "$t" "$NFILES" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open("%s/s%06d" % (d, i), os.O_CREAT | os.O_WRONLY, 0o644))
t0 = time.perf_counter()
for _ in range(3):
    for i in range(n):
        os.lstat("%s/s%06d" % (d, i))
print("%.0f" % (3 * n / (time.perf_counter() - t0)))
PY
)
      record stats_per_s "$side" "$v" ;;
    cp)
      t0=$(now); cp -r "$W/data/tree" "$t/tree"; t1=$(now)
      record "cp_r_${NFILES}_files_s" "$side" "$(echo "$t1 - $t0" | bc -l | xargs printf '%.3f')" ;;
    git)
      cp -r "$W/data/tree" "$t/repo"
      git -C "$t/repo" init -q
      t0=$(now); git -C "$t/repo" add -A && git -C "$t/repo" commit -qm bench; t1=$(now)
      record "git_add_commit_${NFILES}_files_s" "$side" "$(echo "$t1 - $t0" | bc -l | xargs printf '%.3f')" ;;
  esac
}

echo "# vfsd_bench $(date -u +%FT%TZ) workdir=$W ($(df -T "$W" | awk 'NR==2{print $2}')) pool_mb=$POOL_MB threads=$THREADS reps=$REPS"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
  for s in $SCENARIOS; do
    mount_vfsd
    run_one "$s" vfsd "$W/mnt/run$rep"
    umount_vfsd
    rm -rf "$W/plain/run$rep"
    run_one "$s" plain "$W/plain/run$rep"
    rm -rf "$W/plain/run$rep"
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    s, side, v = line.split()
    rows.setdefault(s, {}).setdefault(side, []).append(float(v))
print("\n| metric | vfsd median | plain median | vfsd/plain | spread vfsd | spread plain |")
print("|---|---|---|---|---|---|")
for s, d in rows.items():
    def med(x): return statistics.median(x) if x else float("nan")
    def spr(x): return (max(x) - min(x)) / med(x) if x and med(x) else float("nan")
    v, p = d.get("vfsd", []), d.get("plain", [])
    ratio = med(v) / med(p) if p and med(p) else float("nan")
    print("| %s | %.2f | %s | %s | %.2f | %s |" % (s, med(v), "%.2f" % med(p) if p else "-",
          "%.2f" % ratio if p else "-", spr(v), "%.2f" % spr(p) if p else "-"))
PY
