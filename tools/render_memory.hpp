// "Where the memory is": the record's memory breakdown (hakmem_profile_memory, record
// version 3) in the three views, beside the process's resident set from /proc, so that
// what the allocator cannot account for is visible (render_memory.cpp).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "record.hpp"

namespace hakstat {

// Sum of the resident parts of the breakdown (every row of the table but the purged ones).
std::uint64_t memory_resident_sum(const hakmem_profile_memory& m);

// The table section (nothing but a one-line note when the record has no breakdown).
void render_memory_table(const Snapshot& s, std::string& out);
// The per-class columns of the size-class table: live, bins, free, purged of class i.
std::string memory_class_columns(const hakmem_profile_memory& m, unsigned cls);
std::string memory_class_header();
bool memory_class_any(const hakmem_profile_memory& m, unsigned cls);

// JSON "memory" object (null without a breakdown); per-class fields added to j["classes"].
nlohmann::ordered_json memory_to_json(const Snapshot& s);
void memory_class_json(const hakmem_profile_memory& m, unsigned cls, nlohmann::ordered_json& c);
void memory_to_prometheus(const Snapshot& s, std::string& out);

}  // namespace hakstat
