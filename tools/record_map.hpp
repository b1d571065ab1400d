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

// What a record file must be: its magic, the version this tool reads, its size; and the
// oldest version still read (0: none older), whose layout is a prefix of this one.
struct RecordKind {
  const char* what;  // for messages: "hakmem profile record", "hakmem VFS pool record"
  std::uint64_t magic;
  std::uint32_t version;
  std::size_t size;
  std::uint32_t oldest_version = 0;
  std::size_t oldest_size = 0;
};

// A mapped record: `len` bytes mapped (what to unmap), of which `size` are the record's
// (kind.size, or oldest_size for a record of the older version: copy those, zero the rest).
struct MappedRecord {
  void* mem;
  std::size_t len;
  std::size_t size;
};

// Throws the clear error for a failed open of a record (no such process, no record, no
// permission).
[[noreturn]] void throw_open_error(const std::string& path, std::optional<long> pid, int err);

// Maps a record file and checks its header against `kind` (and pid if given). Returns the
// mapping (the caller unmaps it); throws Error with a clear message.
MappedRecord map_checked(const std::string& path, std::optional<long> pid, bool writable,
                         const RecordKind& kind);

// Copies `size` bytes of a live record under its sequence lock. False: the writer died
// mid-update and the copy may be inconsistent.
bool copy_record(const void* live, void* out, std::size_t size);

Liveness liveness_of(const hakmem_profile_header& h, std::uint64_t now_ns);

// Asks the writer of a mapped record to reset and waits for the acknowledgement.
void reset_mapped(hakmem_profile_header* h, long pid, std::uint64_t timeout_ms);

}  // namespace hakstat::detail
