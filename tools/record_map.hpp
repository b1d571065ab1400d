// Internals shared by the readers of the two record types (record.cpp: the allocator's,
// record_vfs.cpp: the VFS pool's). Both start with a hakmem_profile_header, so mapping,
// checking, consistent copying, liveness and reset are written once, over the header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "record.hpp"

namespace hakstat::detail {

// What a record file must be: its magic, the version this tool reads, its size.
struct RecordKind {
  const char* what;  // for messages: "hakmem profile record", "hakmem VFS pool record"
  std::uint64_t magic;
  std::uint32_t version;
  std::size_t size;
};

// Throws the clear error for a failed open of a record (no such process, no record, no
// permission).
[[noreturn]] void throw_open_error(const std::string& path, std::optional<long> pid, int err);

// Maps a record file and checks its header against `kind` (and pid if given). Returns the
// mapping, kind.size bytes long (the caller unmaps); throws Error with a clear message.
void* map_checked(const std::string& path, std::optional<long> pid, bool writable,
                  const RecordKind& kind);

// Copies `size` bytes of a live record under its sequence lock. False: the writer died
// mid-update and the copy may be inconsistent.
bool copy_record(const void* live, void* out, std::size_t size);

Liveness liveness_of(const hakmem_profile_header& h, std::uint64_t now_ns);

// Asks the writer of a mapped record to reset and waits for the acknowledgement.
void reset_mapped(hakmem_profile_header* h, long pid, std::uint64_t timeout_ms);

}  // namespace hakstat::detail
