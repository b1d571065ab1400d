#include "bdi_tune.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vfsd {

namespace {

// mountinfo escapes blanks, tabs, newlines and backslashes as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

bool write_file(const std::string& path, const std::string& value, std::string* err) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = path + ": " + std::strerror(errno);
    return false;
  }
  const bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  if (!ok) *err = path + ": " + std::strerror(errno);
  close(fd);
  return ok;
}

std::uint64_t read_number(const std::string& path, const std::string& key = "") {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (key.empty()) return std::strtoull(line.c_str(), nullptr, 10);
    if (line.rfind(key, 0) == 0) return std::strtoull(line.c_str() + key.size(), nullptr, 10);
  }
  return 0;
}

}  // namespace

std::string mount_device(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, point;
    if (!(f >> id >> parent >> dev >> root >> point)) continue;
    if (unescape(point) == mountpoint) found = dev;  // the last one is the topmost mount
  }
  return found;
}

bool set_dirty_limit(const std::string& mountpoint, std::uint64_t bytes, std::string* err) {
  const std::string dev = mount_device(mountpoint);
  if (dev.empty()) {
    *err = "mount " + mountpoint + " not found in /proc/self/mountinfo";
    return false;
  }
  const std::string dir = "/sys/class/bdi/" + dev + "/";
  if (access((dir + "max_bytes").c_str(), F_OK) == 0)
    return write_file(dir + "max_bytes", std::to_string(bytes), err) &&
           write_file(dir + "min_bytes", std::to_string(bytes / 2), err);
  // Before Linux 6.2 only percentages of the global dirty limit can be set; that limit is
  // about vm.dirty_ratio % of memory.
  const std::uint64_t mem = read_number("/proc/meminfo", "MemTotal:") << 10;
  const std::uint64_t ratio = std::max<std::uint64_t>(read_number("/proc/sys/vm/dirty_ratio"), 1);
  const std::uint64_t global = mem / 100 * ratio;
  auto pct = [&](std::uint64_t b) {
    return global ? std::clamp<std::uint64_t>((b * 100 + global - 1) / global, 1, 100) : 1;
  };
  return write_file(dir + "max_ratio", std::to_string(pct(bytes)), err) &&
         write_file(dir + "min_ratio", std::to_string(pct(bytes / 2) - 1), err);
}

}  // namespace vfsd
