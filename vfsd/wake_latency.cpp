// WakeLatency: the manager thread that holds or drops the PM QoS request (see the header).
#include "wake_latency.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace vfsd {

WakeLatency::WakeLatency(unsigned linger_ms, std::string device)
    : enabled_(linger_ms != 0),
      linger_ns_(std::uint64_t(linger_ms) * 1000000u),
      device_(std::move(device)) {}

void WakeLatency::start() {
  if (enabled_ && !thread_.joinable()) thread_ = std::thread([this] { run(); });
}

WakeLatency::~WakeLatency() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  release();
}

std::string WakeLatency::error() const {
  std::lock_guard<std::mutex> g(mu_);
  return error_;
}

// noinline: the start of a burst only; keeps note() a load and a store.
__attribute__((noinline)) void WakeLatency::kick() {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (kicked_ || failed_) return;
    kicked_ = true;
  }
  cv_.notify_one();
}

bool WakeLatency::acquire() {
  // The device takes a binary s32: the largest wake-up latency (us) this process accepts.
  const int fd = ::open(device_.c_str(), O_WRONLY | O_CLOEXEC);
  const std::int32_t zero = 0;
  if (fd < 0 || ::write(fd, &zero, sizeof zero) != static_cast<ssize_t>(sizeof zero)) {
    const int e = errno;
    if (fd >= 0) ::close(fd);
    std::lock_guard<std::mutex> g(mu_);
    failed_ = true;
    error_ = device_ + ": " + std::strerror(e);
    std::fprintf(stderr, "vfsd: note: cannot ask for low CPU wake-up latency (%s); every request "
                 "may wait for a sleeping CPU to wake (--wake-linger-ms 0 silences this)\n",
                 error_.c_str());
    return false;
  }
  fd_ = fd;
  held_.store(true, std::memory_order_relaxed);
  acquisitions_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void WakeLatency::release() {
  if (fd_ < 0) return;
  ::close(fd_);  // closing the descriptor withdraws the request
  fd_ = -1;
  held_.store(false, std::memory_order_relaxed);
}

void WakeLatency::run() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return kicked_ || stop_; });
    if (stop_) return;
    lk.unlock();
    const bool ok = acquire();
    lk.lock();
    kicked_ = false;
    if (!ok) continue;  // failed_ is set: no more kicks
    // Hold while requests keep coming; check again when the linger would run out.
    for (;;) {
      const std::uint64_t idle = now_ns() - last_ns_.load(std::memory_order_relaxed);
      if (idle >= linger_ns_) break;
      if (cv_.wait_for(lk, std::chrono::nanoseconds(linger_ns_ - idle), [this] { return stop_; }))
        return;
    }
    lk.unlock();
    release();
    lk.lock();
    // A request that saw held_ still true just before the release did not kick: it only
    // missed the first wake-ups of its burst; the next request kicks again.
  }
}

}  // namespace vfsd
