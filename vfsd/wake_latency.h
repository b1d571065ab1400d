// WakeLatency: while requests are flowing, ask the kernel to keep idle CPUs polling instead
// of halting (a PM QoS CPU latency request of 0 us on /dev/cpu_dma_latency).
//
// Why: every FUSE request is two cross-thread wake-ups (caller -> worker, worker -> caller).
// On a VM whose idle vCPUs halt at once (this machine: haltpoll driver with
// guest_halt_poll_ns=0), waking a halted vCPU goes through the hypervisor and costs ~100 us,
// so a round trip costs 200 us instead of 30 (PERF_NOTES "wake-up latency"). The request
// is scoped to the process: the kernel drops it when the descriptor closes (or the daemon
// dies), and vfsd closes it after `linger` without requests, so an idle mount costs nothing.
// The price while busy: idle CPUs spin in the kernel's idle loop instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace vfsd {

class WakeLatency {
 public:
  // linger_ms == 0: disabled (note() does nothing). device: the PM QoS file (tests pass
  // another path).
  explicit WakeLatency(unsigned linger_ms, std::string device = "/dev/cpu_dma_latency");
  ~WakeLatency();
  void start();  // starts the manager thread (after daemonizing: fork keeps no threads)
  WakeLatency(const WakeLatency&) = delete;
  WakeLatency& operator=(const WakeLatency&) = delete;

  // Called for every request: one relaxed store while the request is held; a wake-up of
  // the manager thread only at the start of a burst.
  void note() {
    if (!enabled_) return;
    last_ns_.store(now_ns(), std::memory_order_relaxed);
    if (!held_.load(std::memory_order_relaxed)) [[unlikely]]
      kick();
  }

  bool held() const { return held_.load(std::memory_order_relaxed); }
  std::uint64_t acquisitions() const { return acquisitions_.load(std::memory_order_relaxed); }
  // Why the request could not be made (empty while it works or when disabled).
  std::string error() const;

 private:
  static std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
  }
  void kick();
  void run();
  bool acquire();
  void release();

  const bool enabled_;
  const std::uint64_t linger_ns_;
  const std::string device_;
  std::atomic<std::uint64_t> last_ns_{0};
  std::atomic<bool> held_{false};
  std::atomic<std::uint64_t> acquisitions_{0};
  int fd_ = -1;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool kicked_ = false;
  bool stop_ = false;
  bool failed_ = false;  // the device could not be used: stop trying (reported once)
  std::string error_;
  std::thread thread_;
};

}  // namespace vfsd
