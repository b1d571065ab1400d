// Command lines of the workloads: CLI11 plus the options most workloads share.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

#include "touch.hpp"

namespace hakbench {

// Object size range and content options shared by the churn workloads.
struct SizeOptions {
  size_t min_size = 16;
  size_t max_size = 1024;
  uint64_t seed = 42;
  bool full_touch = false;

  void add_to(CLI::App& app) {
    app.add_option("--min-size", min_size, "smallest object size in bytes")->capture_default_str();
    app.add_option("--max-size", max_size, "largest object size in bytes")->capture_default_str();
    app.add_option("--seed", seed, "random seed (same seed = same work = same checksum)")
        ->capture_default_str();
    app.add_flag("--full-touch", full_touch,
                 "write every byte of each object (default: first/last word + one per page)");
  }
  TouchMode mode() const { return full_touch ? TouchMode::Full : TouchMode::Sparse; }
  bool valid() const { return min_size >= 1 && min_size <= max_size; }
};

}  // namespace hakbench

// Parses argv; on --help or an error prints and returns from main.
#define HAKBENCH_PARSE(app, argc, argv) CLI11_PARSE(app, argc, argv)
