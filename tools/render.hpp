// The three views of a profile snapshot: a human table (show / watch), JSON, and the
// Prometheus text exposition format.
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

// Rows of `list`.
std::string render_list_header();
std::string render_list_row(const Snapshot& s);

}  // namespace hakstat
