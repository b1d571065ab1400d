#!/bin/bash
# git: init, add, commit, modify, rename, delete, commit, log, diff, repack, fsck — with
# fixed identities and dates so commit ids and all output are deterministic.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || die "git not installed"
assert_loaded git --version
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Hak Mem" GIT_AUTHOR_EMAIL="hakmem@example.org"
export GIT_COMMITTER_NAME="Hak Mem" GIT_COMMITTER_EMAIL="hakmem@example.org"
export GIT_AUTHOR_DATE="2024-01-02T03:04:05+0000" GIT_COMMITTER_DATE="2024-01-02T03:04:05+0000"
workload() {
  export HOME="$1"
  local g="git -c gc.auto=0 -c pack.threads=1 -c init.defaultBranch=main -c core.autocrlf=false"
  $g init -q repo && cd repo || return 1
  for i in $(seq 1 300); do
    printf 'file %d\n%s\n' "$i" "$(printf 'line %d of file %d\n' $(seq 1 $((i % 40 + 1))) )" >"f$i.txt"
  done
  mkdir -p sub/dir && seq 1 5000 >sub/dir/numbers.txt
  $g add -A && $g commit -q -m "first: 301 files" || return 1
  for i in $(seq 1 3 300); do echo "changed $i" >>"f$i.txt"; done
  $g mv f2.txt renamed.txt && $g rm -q f5.txt f6.txt && seq 2 2 5000 >sub/dir/numbers.txt
  $g add -A && $g commit -q -m "second: edits, a rename, deletions" || return 1
  $g tag -a v1 -m "tag v1"
  $g log --stat --format='%H %an <%ae> %ad%n%s' --date=iso
  $g diff --stat HEAD~1 HEAD | tail -n 5
  $g diff HEAD~1 HEAD -- sub/dir/numbers.txt | md5sum
  $g show HEAD~1:f1.txt
  $g cat-file -p HEAD
  $g ls-tree -r HEAD | md5sum
  $g repack -adq && $g prune-packed && $g count-objects -v | grep -E '^(count|in-pack|packs)'
  $g fsck --no-progress --full && echo fsck ok
  $g describe --tags
  $g rev-list --all --objects | sort | md5sum
}
compare_workload git
