// The three views of a profile snapshot: a human table (show / watch), JSON, and the
// Prometheus text exposition format — of the allocator's record and, for a process with a
// VFS pool (vfsd), of the pool's record beside it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "record.hpp"

namespace hakstat {

// The table of `show`. With prev (watch), rates are over the interval since prev;
// without, over the time since the process started (or the counters were reset).
std::string render_table(const Snapshot& s, const Snapshot* prev);

// Keys in record order (ordered_json), as documented in tools/README.md.
nlohmann::ordered_json to_json(const Snapshot& s);
std::string to_prometheus(const Snapshot& s);

// The VFS pool section of the same three views (render_vfs.cpp): appended by the functions
// above when the snapshot has one; JSON under "vfs", Prometheus as hakmem_vfs_*.
std::string render_vfs_table(const VfsSnapshot& v, const VfsSnapshot* prev);
nlohmann::ordered_json vfs_to_json(const VfsSnapshot& v);
std::string vfs_to_prometheus(const VfsSnapshot& v);

// Rows of `list`.
std::string render_list_header();
std::string render_list_row(const Snapshot& s);

}  // namespace hakstat
