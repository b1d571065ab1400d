#!/usr/bin/env bash
# vfsd against the plain filesystem it writes to (and optionally libfuse's passthrough_ll),
# side by side (BENCHMARKING.md protocol: the sides alternate within each repetition, their
# order flips every repetition; medians and spreads at the end; the 1-minute load average is
# recorded with every figure).
#
# usage: bench/vfs/vfsd_bench.sh PATH/TO/vfsd [WORKDIR=/tmp/vfsd-bench] [REPS=3]
#   WORKDIR's filesystem holds vfsd's cache dir and the "plain" target, so all sides end up
#   writing the same bytes to the same filesystem.
# Env: POOL_MB (1024), THREADS (4), SEQ_MB (512), RAND_MB (256), NFILES (5000),
#      SCENARIOS ("seqwrite randwrite seqread randread create stat cp cpout git"),
#      VFSD_ARGS (extra vfsd options),
#      FRESH_EXT4=1: run every scenario of every side on a freshly made ext4 (a loop image in
#        WORKDIR), so that no side inherits the other's deleted inodes or the machine's churn,
#      PASSTHROUGH=path/to/passthrough_ll: add libfuse's example (-o writeback) as a third side.
set -euo pipefail
VFSD=$(realpath "${1:?usage: vfsd_bench.sh path/to/vfsd [workdir] [reps]}")
W=$(realpath -m "${2:-/tmp/vfsd-bench}")
REPS=${3:-3}
POOL_MB=${POOL_MB:-1024}
THREADS=${THREADS:-4}
SEQ_MB=${SEQ_MB:-512}
RAND_MB=${RAND_MB:-256}
NFILES=${NFILES:-5000}
SCENARIOS=${SCENARIOS:-"seqwrite randwrite seqread randread create stat cp cpout git"}
FRESH_EXT4=${FRESH_EXT4:-0}
PT=${PASSTHROUGH:+$(realpath "$PASSTHROUGH")}
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@e GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@e

FS=$W/fs  # where the sides work (a fresh ext4 with FRESH_EXT4=1)
mkdir -p "$W/data" "$FS"
RESULTS="$W/results.txt"
: > "$RESULTS"
PID=""
T=""

cleanup() {
  for m in "$FS/mnt" "$FS/ptmnt"; do
    mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
  done
  [ "$FRESH_EXT4" = 1 ] && mountpoint -q "$FS" && umount "$FS"
  true
}
trap cleanup EXIT

fresh_fs() {
  [ "$FRESH_EXT4" = 1 ] || { mkdir -p "$FS"; return; }
  mountpoint -q "$FS" && umount "$FS"
  truncate -s 8G "$W/ext4.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$W/ext4.img"
  mount -o loop "$W/ext4.img" "$FS"
}

wait_mounted() {
  for _ in $(seq 200); do mountpoint -q "$1" && return 0; sleep 0.05; done
  echo "$2 did not mount: $(cat "$FS/$2.log")" >&2
  exit 1
}

side_up() {  # side_up SIDE [keep]: mounts (keeping the cache dir when asked), sets T (the target dir)
  local side=$1 keep=${2:-}
  case $side in
    vfsd)
      [ -z "$keep" ] && rm -rf "$FS/cache"
      mkdir -p "$FS/src" "$FS/mnt"
      # shellcheck disable=SC2086
      "$VFSD" "$FS/src" "$FS/mnt" --writable --cache-dir "$FS/cache" --pool-mb "$POOL_MB" \
        --threads "$THREADS" ${VFSD_ARGS:-} -f > "$FS/vfsd.log" 2>&1 &
      PID=$!
      wait_mounted "$FS/mnt" vfsd
      T=$FS/mnt/run ;;
    pt)
      [ -z "$keep" ] && rm -rf "$FS/ptsrc"
      mkdir -p "$FS/ptsrc" "$FS/ptmnt"
      "$PT" -o "source=$FS/ptsrc,writeback" -f "$FS/ptmnt" > "$FS/pt.log" 2>&1 &
      PID=$!
      wait_mounted "$FS/ptmnt" pt
      T=$FS/ptmnt/run ;;
    plain)
      mkdir -p "$FS/plain"
      T=$FS/plain/run ;;
  esac
}
side_down() {
  case $1 in
    vfsd) fusermount3 -u "$FS/mnt"; wait "$PID" || true ;;
    pt) fusermount3 -u "$FS/ptmnt"; wait "$PID" || true ;;
  esac
  PID=""
}
daemon_cpu() { [ -n "$PID" ] && awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$PID/stat" || echo 0; }

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

fio_field() {  # fio_field FIELD DIR FIO-ARGS...: read_bw / write_bw (MB/s) or read_iops / write_iops
  fio --output-format=json --directory="$2" "${@:3}" | python3 -c "
import json,sys
j=json.load(sys.stdin)['jobs'][0]
d,k=sys.argv[1].split('_')
print('%.1f' % (j[d]['bw_bytes']/1e6 if k=='bw' else j[d]['iops']))" "$1"
}
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
record() { echo "$1 $2 $3 $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS"; }  # scenario side value load

run_one() {  # run_one SCENARIO SIDE
  local s=$1 side=$2 t v c0 t0 t1
  side_up "$side"
  t=$T
  mkdir -p "$t"
  sync
  case $s in
    seqwrite)  # fio's figure; the fio command timed from outside (start-up, writes, close()); with fsync
      c0=$(daemon_cpu)
      t0=$(now)
      v=$(fio_field write_bw "$t" --name=seqw --rw=write --bs=128k --size=${SEQ_MB}M --ioengine=psync --fallocate=none)
      t1=$(now)
      record seqwrite_128k_MBps "$side" "$v"
      record seqwrite_128k_incl_close_MBps "$side" "$(echo "$SEQ_MB * 1.048576 / ($t1 - $t0)" | bc -l | xargs printf '%.1f')"
      [ "$side" != plain ] && record seqwrite_daemon_cpu_s_per_GB "$side" \
        "$(echo "($(daemon_cpu) - $c0) * 1024 / $SEQ_MB" | bc -l | xargs printf '%.2f')"
      rm -f "$t"/seqw*
      v=$(fio_field write_bw "$t" --name=seqwf --rw=write --bs=128k --size=${SEQ_MB}M --ioengine=psync --fallocate=none --end_fsync=1)
      record seqwrite_128k_fsync_MBps "$side" "$v" ;;
    randwrite)
      v=$(fio_field write_iops "$t" --name=randw --rw=randwrite --bs=4k --size=${RAND_MB}M --ioengine=psync --fallocate=none)
      record randwrite_4k_IOPS "$side" "$v"
      v=$(fio_field write_iops "$t" --name=randw --rw=randwrite --bs=4k --size=${RAND_MB}M --ioengine=psync --fallocate=none --end_fsync=1)
      record randwrite_4k_fsync_IOPS "$side" "$v" ;;
    seqread)  # the second read of a file just written: page cache
      fio_field write_bw "$t" --name=seqr --rw=write --bs=1M --size=${SEQ_MB}M --ioengine=psync --fallocate=none > /dev/null
      fio_field read_bw "$t" --name=seqr --rw=read --bs=128k --size=${SEQ_MB}M --ioengine=psync --invalidate=0 > /dev/null
      v=$(fio_field read_bw "$t" --name=seqr --rw=read --bs=128k --size=${SEQ_MB}M --ioengine=psync --invalidate=0)
      record seqread_128k_cached_MBps "$side" "$v" ;;
    randread)
      fio_field write_bw "$t" --name=randr --rw=write --bs=1M --size=${RAND_MB}M --ioengine=psync --fallocate=none > /dev/null
      v=$(fio_field read_iops "$t" --name=randr --rw=randread --bs=4k --size=${RAND_MB}M --ioengine=psync --invalidate=0 --time_based --runtime=3)
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
      record "cp_r_in_${NFILES}_files_s" "$side" "$(secs "$t0" "$t1")" ;;
    cpout)  # copied in, remounted (nothing cached in the mount), then copied out
      cp -r "$W/data/tree" "$t/tree"
      if [ "$side" != plain ]; then side_down "$side"; side_up "$side" keep; t=$T; fi
      rm -rf "$FS/out"; mkdir -p "$FS/out"; sync
      t0=$(now); cp -r "$t/tree" "$FS/out/"; t1=$(now)
      record "cp_r_out_${NFILES}_files_s" "$side" "$(secs "$t0" "$t1")"
      rm -rf "$FS/out" ;;
    git)
      cp -r "$W/data/tree" "$t/repo"
      git -C "$t/repo" init -q
      t0=$(now); git -C "$t/repo" add -A && git -C "$t/repo" commit -qm bench; t1=$(now)
      record "git_add_commit_${NFILES}_files_s" "$side" "$(secs "$t0" "$t1")" ;;
  esac
  side_down "$side"
  rm -rf "$FS/plain" "$FS/cache" "$FS/ptsrc"
}

SIDES="vfsd plain${PT:+ pt}"
echo "# vfsd_bench $(date -u +%FT%TZ) workdir=$W ($([ "$FRESH_EXT4" = 1 ] && echo "fresh ext4 per run" || df -T "$W" | awk 'NR==2{print $2}')) pool_mb=$POOL_MB threads=$THREADS reps=$REPS vfsd_args='${VFSD_ARGS:-}'"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq "$REPS"); do
  order=$SIDES
  [ $((rep % 2)) = 0 ] && order=$(echo "$SIDES" | tr ' ' '\n' | tac | tr '\n' ' ')
  for s in $SCENARIOS; do
    for side in $order; do
      fresh_fs
      run_one "$s" "$side"
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RESULTS" <<'PY'
import sys, statistics
rows, loads = {}, {}
for line in open(sys.argv[1]):
    s, side, v, load = line.split()
    rows.setdefault(s, {}).setdefault(side, []).append(float(v))
    loads.setdefault(s, []).append(float(load))
sides = [x for x in ("vfsd", "plain", "pt") if any(x in d for d in rows.values())]
def med(x): return statistics.median(x) if x else float("nan")
def spr(x): return (max(x) - min(x)) / med(x) if x and med(x) else float("nan")
print("\n| metric | " + " | ".join("%s median (spread)" % x for x in sides) + " | vfsd/plain | load 1-min (min-max) |")
print("|---|" + "---|" * len(sides) + "---|---|")
for s, d in rows.items():
    cells = ["%.2f (%.2f)" % (med(d[x]), spr(d[x])) if x in d else "-" for x in sides]
    ratio = "%.2f" % (med(d["vfsd"]) / med(d["plain"])) if "vfsd" in d and "plain" in d and med(d["plain"]) else "-"
    print("| %s | %s | %s | %.1f-%.1f |" % (s, " | ".join(cells), ratio, min(loads[s]), max(loads[s])))
PY
