// Vfs: construction, the background flusher (memory pressure, periodic writeback, retry of
// files whose save failed), unmount, and the statistics record (cache-dir/stats.json).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include <nlohmann/json.hpp>

#include "hakmem/hakmem.h"
#include "vfs.h"

namespace vfsd {

namespace {
hakmem::vfs::PoolConfig pool_config(const Options& o) {
  hakmem::vfs::PoolConfig c;
  c.chunk_size = o.chunk_kb << 10;
  c.budget_bytes = o.pool_mb << 20;
  c.shard_count = 256;
  return c;
}
}  // namespace

Vfs::Vfs(const Options& opts, int lower_fd, int upper_fd, int work_fd, std::string cache_dir)
    : opts_(opts),
      cache_dir_(std::move(cache_dir)),
      euid_(geteuid()),
      egid_(getegid()),
      pool_(pool_config(opts)),
      ov_(lower_fd, upper_fd, work_fd),
      high_water_((opts.pool_mb << 20) / 2),
      low_water_((opts.pool_mb << 20) / 4),
      hard_cap_((opts.pool_mb << 20) + (opts.pool_mb << 20) / 2) {
  ov_.set_copy_up_hook([this](const std::string& p) { attach_upper(p); });
}

Vfs::~Vfs() { shutdown(); }

void Vfs::start() {
  if (writable() && !flusher_.joinable()) flusher_ = std::thread([this] { flusher_main(); });
}

void Vfs::shutdown() {
  if (shut_down_.exchange(true)) return;
  if (flusher_.joinable()) {
    {
      std::lock_guard<std::mutex> g(fl_mu_);
      fl_stop_ = true;
    }
    fl_cv_.notify_one();
    flusher_.join();
  }
  if (writable()) {
    std::vector<FilePtr> all;
    {
      std::shared_lock<std::shared_mutex> lk(ns_mu_);
      for (auto& kv : files_) all.push_back(kv.second);
    }
    for (auto& f : all) {
      if (int e = flush_file(f.get()); e < 0)
        std::fprintf(stderr, "vfsd: unmount: could not save %s: %s (its unsaved data is lost)\n",
                     f->path.c_str(), std::strerror(-e));
    }
  }
  if (!cache_dir_.empty() && writable()) write_stats();
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  files_.clear();
}

void Vfs::flush_dirty(bool pressure) {
  std::vector<std::pair<std::uint64_t, FilePtr>> dirty;
  {
    std::shared_lock<std::shared_mutex> lk(ns_mu_);
    for (auto& kv : files_) {
      const std::uint64_t n = pool_.file_dirty_blocks(kv.second->id);
      if (n) dirty.emplace_back(n, kv.second);
    }
  }
  std::sort(dirty.begin(), dirty.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (auto& [n, f] : dirty) {
    if (int e = flush_file(f.get()); e < 0)
      std::fprintf(stderr, "vfsd: background flush of %s: %s\n", f->path.c_str(), std::strerror(-e));
    if (pressure && pool_.dirty_bytes() <= low_water_) break;
  }
}

// Files whose last handle closed while their data could not be saved stay in the table;
// once saved they go.
void Vfs::reap_orphans() {
  std::unique_lock<std::shared_mutex> lk(ns_mu_);
  for (auto it = files_.begin(); it != files_.end();) {
    if (it->second->open_count == 0 && !it->second->has_dirty())
      it = files_.erase(it);
    else
      ++it;
  }
}

void Vfs::flusher_main() {
  using clock = std::chrono::steady_clock;
  auto last_periodic = clock::now();
  std::unique_lock<std::mutex> lk(fl_mu_);
  while (!fl_stop_) {
    fl_cv_.wait_for(lk, std::chrono::seconds(1),
                    [&] { return fl_stop_ || fl_kick_.load(); });
    if (fl_stop_) break;
    fl_kick_.store(false);
    lk.unlock();
    const bool pressure = pool_.dirty_bytes() > high_water_ || pool_.live_bytes() > pool_.budget_bytes();
    const bool periodic = clock::now() - last_periodic >= std::chrono::duration<double>(opts_.flush_interval);
    if (pressure) ctr_.pressure_flushes.fetch_add(1, std::memory_order_relaxed);
    if (pressure || periodic) {
      flush_dirty(pressure && !periodic);
      if (periodic) last_periodic = clock::now();
      if (pool_.live_bytes() > pool_.budget_bytes())
        pool_.evict_clean(pool_.live_bytes() - pool_.budget_bytes() + pool_.budget_bytes() / 8);
    }
    reap_orphans();
    if (stats_requested_.exchange(false)) write_stats();
    lk.lock();
  }
}

std::string Vfs::stats_json() {
  using nlohmann::json;
  const hakmem::vfs::PoolStats p = pool_.stats();
  json j;
  j["format"] = "vfsd-stats-1";
  j["pool"] = {
      {"writes", p.writes}, {"write_bytes", p.write_bytes}, {"write_misses", p.write_misses},
      {"loads", p.loads}, {"load_errors", p.load_errors}, {"full_chunk_writes", p.full_chunk_writes},
      {"reads", p.reads}, {"read_hits", p.read_hits}, {"read_bytes", p.read_bytes},
      {"flush_calls", p.flush_calls}, {"blocks_flushed", p.blocks_flushed}, {"flush_errors", p.flush_errors},
      {"evictions", p.evictions}, {"over_budget_allocs", p.over_budget_allocs},
      {"truncated_blocks", p.truncated_blocks}, {"blocks_resident", p.blocks_resident},
      {"blocks_dirty", p.blocks_dirty}, {"blocks_live", p.blocks_live}, {"blocks_cached", p.blocks_cached},
      {"peak_live", p.peak_live}, {"hak_block_allocs", p.hak_block_allocs},
      {"hak_block_frees", p.hak_block_frees}, {"blocks_reused", p.blocks_reused},
      {"chunk_size", p.chunk_size}, {"budget_bytes", p.budget_bytes},
      {"shard_lock_acquisitions", p.shard_locks.acquisitions}, {"shard_lock_contended", p.shard_locks.contended},
      {"shard_lock_wait_ns", p.shard_locks.wait_ns}, {"other_lock_acquisitions", p.other_locks.acquisitions},
      {"other_lock_contended", p.other_locks.contended}, {"other_lock_wait_ns", p.other_locks.wait_ns}};
  auto c = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  j["vfsd"] = {{"getattr", c(ctr_.getattr)}, {"readdir", c(ctr_.readdir)}, {"open", c(ctr_.open)},
               {"create", c(ctr_.create)}, {"read", c(ctr_.read)}, {"read_bytes", c(ctr_.read_bytes)},
               {"write", c(ctr_.write)}, {"write_bytes", c(ctr_.write_bytes)}, {"flush", c(ctr_.flush)},
               {"fsync", c(ctr_.fsync)}, {"release", c(ctr_.release)}, {"mkdir", c(ctr_.mkdir)},
               {"rmdir", c(ctr_.rmdir)}, {"unlink", c(ctr_.unlink)}, {"rename", c(ctr_.rename)},
               {"symlink", c(ctr_.symlink)}, {"setattr", c(ctr_.setattr)},
               {"flush_errors", c(ctr_.flush_errors)}, {"pool_flushes", c(ctr_.pool_flushes)},
               {"bytes_flushed", c(ctr_.bytes_flushed)}, {"pressure_flushes", c(ctr_.pressure_flushes)},
               {"sync_throttles", c(ctr_.sync_throttles)}, {"orphans_kept", c(ctr_.orphans_kept)},
               {"writebehind_flushes", c(ctr_.writebehind_flushes)},
               {"copy_ups", ov_.copy_ups()}, {"whiteouts", ov_.whiteouts_made()}};
  hakmem_stats h{};
  if (hakmem_stats_get(&h) == 0) {
    j["hakmem"] = {{"version", h.version}, {"malloc_calls", h.malloc_calls}, {"free_calls", h.free_calls},
                   {"refills", h.refills}, {"superslabs_mapped", h.superslabs_mapped},
                   {"bytes_mapped", h.bytes_mapped}, {"bytes_populated", h.bytes_populated},
                   {"page_faults_slow_path", h.page_faults_slow_path},
                   {"lock_acquisitions", h.lock_acquisitions}, {"lock_contended", h.lock_contended},
                   {"lock_wait_ns", h.lock_wait_ns}};
  }
  return j.dump(2);
}

void Vfs::write_stats() {
  const std::string text = stats_json() + "\n";
  const std::string tmp = cache_dir_ + "/stats.json.tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (ok) ::rename(tmp.c_str(), (cache_dir_ + "/stats.json").c_str());
}

}  // namespace vfsd
