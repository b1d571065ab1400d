// Where the baseline keeps dirty blocks: slots of one tmpfs file (a memfd), for comparison
// only.
//
// The profiled daemon kept dirty blocks in tmpfs pages that were allocated afresh whenever a
// block turned dirty and given back when it was flushed. This models that with the cheaper
// of the two plausible implementations: pwrite/pread on a tmpfs file (no mmap, so no page
// faults and TLB shootdowns are added), one tmpfs file per VFS file (one shared file would
// serialise every writer on its inode lock, a cost the profiled design did not have), one
// chunk-sized slot per dirty block, and a hole punched over the slot when the block is
// flushed clean — so the next write to that chunk makes the kernel allocate its tmpfs pages
// again. `keep_pages` skips the punch (pages stay allocated for the next dirty block of the
// slot): an ablation that separates the page allocation from the rest of the design.
//
// Slot bookkeeping is not locked here: callers hold the baseline's pool mutex (as the
// profiled design did: one lock over everything). The data calls are ordinary syscalls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hakmem::vfs::baseline {

class TmpfsStore {
 public:
  TmpfsStore(std::size_t slot_size, bool keep_pages);  // throws std::system_error without memfd
  ~TmpfsStore();
  TmpfsStore(const TmpfsStore&) = delete;
  TmpfsStore& operator=(const TmpfsStore&) = delete;

  // Slot bookkeeping: the caller holds the pool mutex.
  std::int64_t take_locked();
  void give_back_locked(std::int64_t slot);

  // Data: 0 or -errno. write allocates whatever tmpfs pages the range lacks.
  int write(std::int64_t slot, std::size_t off, const void* src, std::size_t len) const;
  int read(std::int64_t slot, std::size_t off, void* dst, std::size_t len) const;
  // Gives the slot's pages back to the kernel (FALLOC_FL_PUNCH_HOLE).
  void punch(std::int64_t slot) const;

 private:
  const std::size_t slot_size_;
  const bool keep_pages_;
  int fd_ = -1;
  std::vector<std::int64_t> free_;
  std::int64_t next_ = 0;
};

}  // namespace hakmem::vfs::baseline
