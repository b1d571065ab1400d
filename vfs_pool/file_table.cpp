#include <mutex>

#include "vfs_pool/shard.h"

namespace hakmem::vfs {

FileTable::~FileTable() {
  for (Part& p : parts_)
    for (auto& kv : p.map) delete kv.second;
}

PoolFile* FileTable::find(FileId id) {
  Part& p = part(id);
  std::lock_guard<CountedMutex> g(p.mu);
  auto it = p.map.find(id);
  return it == p.map.end() ? nullptr : it->second;
}

PoolFile* FileTable::get_or_create(FileId id) {
  Part& p = part(id);
  std::lock_guard<CountedMutex> g(p.mu);
  auto [it, inserted] = p.map.try_emplace(id, nullptr);
  if (inserted) it->second = new PoolFile(id);
  return it->second;
}

void FileTable::erase(FileId id) {
  Part& p = part(id);
  PoolFile* pf = nullptr;
  {
    std::lock_guard<CountedMutex> g(p.mu);
    auto it = p.map.find(id);
    if (it == p.map.end()) return;
    pf = it->second;
    p.map.erase(it);
  }
  delete pf;
}

LockStats FileTable::lock_stats() const {
  LockStats s;
  for (const Part& p : parts_) {
    std::lock_guard<std::mutex> g(p.mu.uncounted());
    s += p.mu.stats();
    for (const auto& kv : p.map) s += kv.second->op_mu.stats();
  }
  return s;
}

}  // namespace hakmem::vfs
