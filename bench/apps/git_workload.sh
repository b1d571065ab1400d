#!/bin/bash
# git workload for scripts/compare: WORKDIR FILES. Every process (git, seq, sed) runs under
# the allocator being measured; output is deterministic (fixed identities and dates).
set -e
cd "$1"
n=$2
g="git -c gc.auto=0 -c pack.threads=1 -c init.defaultBranch=main"
$g init -q r
cd r
for i in $(seq 1 "$n"); do seq 1 $((i * 7 % 500 + 20)) | sed "s/^/line $i /" > "f$i.txt"; done
$g add -A
$g commit -q -m one
for k in 1 2 3; do
  for i in $(seq "$k" 5 "$n"); do echo "edit $k" >> "f$i.txt"; done
  $g commit -qam "edit $k"
done
$g repack -adq -f --depth=50 --window=50
$g log --stat | md5sum
$g diff HEAD~3 HEAD | md5sum
$g grep -c line | md5sum
$g fsck --no-progress --full 2>&1 | md5sum
