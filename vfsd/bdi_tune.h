// The kernel's dirty-page limit for one FUSE mount.
//
// The kernel lets a FUSE mount hold only max_ratio = 1 % of the dirty-page budget
// (strict_limit; 48 MB on the 24 GiB project machine) before it throttles the writer to the
// daemon's pace, where a local filesystem may hold the global 20 %. A trusted daemon running
// as root can raise its own mount's share through /sys/class/bdi/MAJ:MIN/max_bytes (Linux
// >= 6.2; max_ratio before that), so that writes land in the page cache at memory speed and
// reach the daemon in the background and at close(), as they would reach a disk.
// Under strict_limit a mount's share is also scaled by its part of the machine's recent
// writeback, which is nil for a fresh mount: min_bytes guarantees it half of the limit from
// the start (measured: 4 KiB random writes into a fresh mount ran at 59-64k IOPS in two runs
// of three without it, 290-400k in three of three with it).
#pragma once

#include <cstdint>
#include <string>

namespace vfsd {

// The "MAJ:MIN" device of the filesystem mounted at `mountpoint`, read from
// /proc/self/mountinfo (not from stat(), which would send a request to this very daemon
// before its loop runs). Empty if not found.
std::string mount_device(const std::string& mountpoint);

// Sets the dirty-page limit of the mount's backing device to `bytes`, and guarantees it
// bytes / 2 of the kernel's dirty budget. Returns false with a reason (not root, kernel
// without the knob, mount not found, guarantees of other devices in the way).
bool set_dirty_limit(const std::string& mountpoint, std::uint64_t bytes, std::string* err);

}  // namespace vfsd
