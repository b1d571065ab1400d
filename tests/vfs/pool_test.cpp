// Unit tests of vfs_pool (no FUSE): write/read, copy-on-write loads, dirty tracking and
// flush, flush errors, truncate, drop, eviction under the budget, lock counts, concurrency.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vfs_pool/vfs_pool.h"

using namespace hakmem::vfs;

namespace {

constexpr std::size_t kChunk = 64 * 1024;

// Clean content of (file, chunk): a byte pattern derived from the position.
std::byte clean_byte(FileId f, std::uint64_t chunk, std::size_t i) {
  return static_cast<std::byte>((f * 31 + chunk * 7 + i) & 0xff);
}

struct CountingLoader {
  std::atomic<int> calls{0};
  static int fill(void* ctx, FileId f, std::uint64_t c, std::byte* b, std::size_t n) {
    static_cast<CountingLoader*>(ctx)->calls++;
    for (std::size_t i = 0; i < n; ++i) b[i] = clean_byte(f, c, i);
    return 0;
  }
  Loader loader() { return Loader{&fill, this}; }
};

PoolConfig small_config(std::size_t budget_chunks = 64) {
  PoolConfig c;
  c.chunk_size = kChunk;
  c.budget_bytes = budget_chunks * kChunk;
  c.shard_count = 16;
  return c;
}

struct MemSink {
  std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> got;
  int fail_after = -1;  // fail (ENOSPC) once this many blocks were accepted
  static int put(void* ctx, std::uint64_t chunk, const std::byte* b, std::size_t n) {
    auto* s = static_cast<MemSink*>(ctx);
    if (s->fail_after >= 0 && static_cast<int>(s->got.size()) >= s->fail_after) return -ENOSPC;
    s->got.emplace_back(chunk, std::vector<std::byte>(b, b + n));
    return 0;
  }
  FlushSink sink() { return FlushSink{&put, this}; }
};

}  // namespace

TEST(VfsPool, RejectsBadConfig) {
  PoolConfig c = small_config();
  c.chunk_size = 100000;
  EXPECT_THROW(BlockPool p(c), std::invalid_argument);
  c = small_config();
  c.chunk_size = 32 * 1024;
  EXPECT_THROW(BlockPool p(c), std::invalid_argument);
  c = small_config();
  c.shard_count = 3;
  EXPECT_THROW(BlockPool p(c), std::invalid_argument);
}

TEST(VfsPool, HashSpreadsKeysOverShards) {
  std::vector<int> counts(256);
  for (FileId f = 1; f <= 64; ++f)
    for (std::uint64_t c = 0; c < 64; ++c) counts[(hash_key({f, c}) >> 32) & 255]++;
  for (int n : counts) {  // 4096 keys over 256 shards: 16 expected each
    EXPECT_GT(n, 2);
    EXPECT_LT(n, 40);
  }
  EXPECT_NE(hash_key({1, 2}), hash_key({2, 1}));
}

TEST(VfsPool, PartialWriteLoadsCleanContentOnce) {
  BlockPool pool(small_config());
  CountingLoader ld;
  const char msg[] = "hello pool";
  ASSERT_EQ(pool.write_at(7, 3, 100, msg, sizeof msg, ld.loader()), 0);
  ASSERT_EQ(pool.write_at(7, 3, 5000, msg, sizeof msg, ld.loader()), 0);
  EXPECT_EQ(ld.calls.load(), 1);
  std::vector<std::byte> out(kChunk);
  ASSERT_TRUE(pool.read_at(7, 3, 0, out.data(), kChunk));
  for (std::size_t i = 0; i < kChunk; ++i) {
    if ((i >= 100 && i < 100 + sizeof msg) || (i >= 5000 && i < 5000 + sizeof msg)) continue;
    ASSERT_EQ(out[i], clean_byte(7, 3, i)) << i;
  }
  EXPECT_EQ(std::memcmp(out.data() + 100, msg, sizeof msg), 0);
  EXPECT_EQ(std::memcmp(out.data() + 5000, msg, sizeof msg), 0);
  EXPECT_FALSE(pool.read_at(7, 4, 0, out.data(), 10));
  EXPECT_FALSE(pool.read_at(8, 3, 0, out.data(), 10));
  EXPECT_EQ(pool.file_dirty_blocks(7), 1u);
}

TEST(VfsPool, FullChunkWriteNeedsNoLoad) {
  BlockPool pool(small_config());
  CountingLoader ld;
  std::vector<std::byte> buf(kChunk, std::byte{0x5a});
  ASSERT_EQ(pool.write_at(1, 0, 0, buf.data(), kChunk, ld.loader()), 0);
  EXPECT_EQ(ld.calls.load(), 0);
  EXPECT_EQ(pool.stats().full_chunk_writes, 1u);
}

TEST(VfsPool, RejectsWritesPastTheChunk) {
  BlockPool pool(small_config());
  CountingLoader ld;
  char b[16] = {};
  EXPECT_EQ(pool.write_at(1, 0, kChunk - 8, b, 16, ld.loader()), -EINVAL);
}

TEST(VfsPool, LoaderErrorIsReturnedAndNothingIsCached) {
  BlockPool pool(small_config());
  Loader bad{[](void*, FileId, std::uint64_t, std::byte*, std::size_t) { return -EIO; }, nullptr};
  char b[16] = {};
  EXPECT_EQ(pool.write_at(1, 0, 0, b, 16, bad), -EIO);
  EXPECT_FALSE(pool.read_at(1, 0, 0, b, 16));
  EXPECT_EQ(pool.stats().blocks_live, 0u);
}

TEST(VfsPool, HitWriteTakesExactlyOneLock) {
  BlockPool pool(small_config());
  CountingLoader ld;
  char b[4096] = {};
  ASSERT_EQ(pool.write_at(1, 0, 0, b, sizeof b, ld.loader()), 0);
  const PoolStats before = pool.stats();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(pool.write_at(1, 0, (i * 4096) % kChunk, b, sizeof b, ld.loader()), 0);
  const PoolStats after = pool.stats();
  EXPECT_EQ(after.shard_locks.acquisitions - before.shard_locks.acquisitions, 1000u);
  EXPECT_EQ(after.other_locks.acquisitions - before.other_locks.acquisitions, 0u);
  EXPECT_EQ(after.writes - before.writes, 1000u);
}

TEST(VfsPool, FlushWritesDirtyBlocksOnceAndMakesThemClean) {
  BlockPool pool(small_config());
  CountingLoader ld;
  std::vector<std::byte> buf(kChunk, std::byte{1});
  for (std::uint64_t c = 0; c < 5; ++c) ASSERT_EQ(pool.write_at(9, c, 0, buf.data(), kChunk, ld.loader()), 0);
  ASSERT_EQ(pool.write_at(9, 2, 10, "x", 1, ld.loader()), 0);  // dirty twice, listed once
  EXPECT_EQ(pool.file_dirty_blocks(9), 5u);
  MemSink sink;
  ASSERT_EQ(pool.flush_file(9, sink.sink()), 0);
  EXPECT_EQ(sink.got.size(), 5u);
  std::set<std::uint64_t> chunks;
  for (auto& g : sink.got) chunks.insert(g.first);
  EXPECT_EQ(chunks, (std::set<std::uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(pool.file_dirty_blocks(9), 0u);
  EXPECT_EQ(pool.stats().blocks_dirty, 0u);
  MemSink again;
  ASSERT_EQ(pool.flush_file(9, again.sink()), 0);
  EXPECT_TRUE(again.got.empty());
  ASSERT_EQ(pool.write_at(9, 4, 0, "y", 1, ld.loader()), 0);  // re-dirty a clean block
  ASSERT_EQ(pool.flush_file(9, again.sink()), 0);
  ASSERT_EQ(again.got.size(), 1u);
  EXPECT_EQ(again.got[0].first, 4u);
  EXPECT_EQ(again.got[0].second[0], std::byte{'y'});
}

TEST(VfsPool, FailedFlushKeepsEverythingDirty) {
  BlockPool pool(small_config());
  CountingLoader ld;
  std::vector<std::byte> buf(kChunk, std::byte{2});
  for (std::uint64_t c = 0; c < 4; ++c) ASSERT_EQ(pool.write_at(3, c, 0, buf.data(), kChunk, ld.loader()), 0);
  MemSink sink;
  sink.fail_after = 1;
  EXPECT_EQ(pool.flush_file(3, sink.sink()), -ENOSPC);
  EXPECT_EQ(pool.file_dirty_blocks(3), 3u);
  // Dirty blocks are never evicted, however small the budget.
  EXPECT_EQ(pool.evict_clean(100 * kChunk), kChunk);  // only the one that was written
  sink.fail_after = -1;
  ASSERT_EQ(pool.flush_file(3, sink.sink()), 0);
  EXPECT_EQ(sink.got.size(), 4u);
  EXPECT_EQ(pool.file_dirty_blocks(3), 0u);
  EXPECT_EQ(pool.stats().flush_errors, 1u);
}

TEST(VfsPool, PwriteSinkClipsAtFileSize) {
  BlockPool pool(small_config());
  CountingLoader ld;
  char path[] = "/tmp/vfs_pool_test_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  std::vector<std::byte> buf(kChunk, std::byte{'A'});
  ASSERT_EQ(pool.write_at(5, 0, 0, buf.data(), kChunk, ld.loader()), 0);
  ASSERT_EQ(pool.write_at(5, 1, 0, buf.data(), 1000, ld.loader()), 0);
  ASSERT_EQ(pool.write_at(5, 9, 0, buf.data(), 10, ld.loader()), 0);  // past the size: skipped
  std::atomic<std::uint64_t> size{kChunk + 1000};
  PwriteTarget t{fd, kChunk, &size};
  ASSERT_EQ(pool.flush_file(5, pwrite_sink(&t)), 0);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), kChunk + 1000);
  EXPECT_EQ(t.bytes_written, kChunk + 1000);
  char c = 0;
  ASSERT_EQ(pread(fd, &c, 1, kChunk + 999), 1);
  EXPECT_EQ(c, 'A');
  close(fd);
}

TEST(VfsPool, TruncateDropsBlocksAndZeroesTheTail) {
  BlockPool pool(small_config());
  CountingLoader ld;
  std::vector<std::byte> buf(kChunk, std::byte{0x77});
  for (std::uint64_t c = 0; c < 6; ++c) ASSERT_EQ(pool.write_at(4, c, 0, buf.data(), kChunk, ld.loader()), 0);
  MemSink s1;
  ASSERT_EQ(pool.flush_file(4, s1.sink()), 0);
  ASSERT_EQ(pool.write_at(4, 5, 0, "z", 1, ld.loader()), 0);  // chunk 5 dirty again
  pool.truncate_file(4, 2 * kChunk + 100);
  EXPECT_EQ(pool.file_resident_blocks(4), 3u);
  EXPECT_EQ(pool.file_dirty_blocks(4), 0u);
  std::vector<std::byte> out(kChunk);
  ASSERT_TRUE(pool.read_at(4, 2, 0, out.data(), kChunk));
  EXPECT_EQ(out[99], std::byte{0x77});
  EXPECT_EQ(out[100], std::byte{0});
  EXPECT_EQ(out[kChunk - 1], std::byte{0});
  EXPECT_FALSE(pool.read_at(4, 3, 0, out.data(), 1));
  MemSink s2;
  ASSERT_EQ(pool.flush_file(4, s2.sink()), 0);  // frees the dead entry of chunk 5
  EXPECT_TRUE(s2.got.empty());
  EXPECT_EQ(pool.stats().blocks_live, 3u);
}

TEST(VfsPool, SparseFileTruncateAndDropScanTheIndex) {
  BlockPool pool(small_config());
  CountingLoader ld;
  ASSERT_EQ(pool.write_at(2, 0, 0, "a", 1, ld.loader()), 0);
  ASSERT_EQ(pool.write_at(2, 1ull << 40, 0, "b", 1, ld.loader()), 0);
  pool.truncate_file(2, kChunk);
  EXPECT_EQ(pool.file_resident_blocks(2), 1u);
  pool.drop_file(2);
  EXPECT_EQ(pool.file_resident_blocks(2), 0u);
  EXPECT_EQ(pool.stats().blocks_live, 0u);
}

TEST(VfsPool, DropForgetsDirtyBlocks) {
  BlockPool pool(small_config());
  CountingLoader ld;
  for (std::uint64_t c = 0; c < 10; ++c) ASSERT_EQ(pool.write_at(6, c, 0, "q", 1, ld.loader()), 0);
  pool.truncate_file(6, 0);  // dead entries on the dirty list
  for (std::uint64_t c = 0; c < 3; ++c) ASSERT_EQ(pool.write_at(6, c, 0, "q", 1, ld.loader()), 0);
  pool.drop_file(6);
  const PoolStats st = pool.stats();
  EXPECT_EQ(st.blocks_live, 0u);
  EXPECT_EQ(st.blocks_dirty, 0u);
  EXPECT_EQ(st.blocks_resident, 0u);
  MemSink s;
  EXPECT_EQ(pool.flush_file(6, s.sink()), 0);
  EXPECT_TRUE(s.got.empty());
}

TEST(VfsPool, EvictsCleanBlocksToStayUnderBudget) {
  BlockPool pool(small_config(8));
  CountingLoader ld;
  MemSink sink;
  for (FileId f = 1; f <= 8; ++f) {
    for (std::uint64_t c = 0; c < 4; ++c) ASSERT_EQ(pool.write_at(f, c, 0, "e", 1, ld.loader()), 0);
    ASSERT_EQ(pool.flush_file(f, sink.sink()), 0);
    EXPECT_LE(pool.live_bytes(), 8 * kChunk);
  }
  const PoolStats st = pool.stats();
  EXPECT_GE(st.evictions, 24u);
  EXPECT_EQ(st.over_budget_allocs, 0u);
  EXPECT_GT(st.blocks_reused, 0u);  // evicted blocks are recycled, not re-allocated
  EXPECT_LE(st.hak_block_allocs, 9u);
  // The most recently written file is still resident.
  char c = 0;
  EXPECT_TRUE(pool.read_at(8, 3, 0, &c, 1));
  EXPECT_EQ(c, 'e');
}

TEST(VfsPool, DirtyBlocksGoOverBudgetRatherThanBeingLost) {
  BlockPool pool(small_config(4));
  CountingLoader ld;
  for (std::uint64_t c = 0; c < 8; ++c) ASSERT_EQ(pool.write_at(1, c, 0, "d", 1, ld.loader()), 0);
  const PoolStats st = pool.stats();
  EXPECT_EQ(st.blocks_dirty, 8u);
  EXPECT_GT(st.over_budget_allocs, 0u);
}

TEST(VfsPool, ConcurrentWritersReadersAndFlusherAgreeWithAModel) {
  BlockPool pool(small_config(48));
  constexpr int kThreads = 4;
  constexpr FileId kFilesPerThread = 4;
  constexpr std::uint64_t kChunks = 4;
  std::atomic<bool> stop{false};
  Loader zero{[](void*, FileId, std::uint64_t, std::byte* b, std::size_t n) {
                std::memset(b, 0, n);
                return 0;
              },
              nullptr};
  // Every thread owns its files; a flusher writes their blocks into per-file backing
  // buffers, which the loader... is not used for: flushed blocks stay resident or are
  // evicted, so the model keeps the last flushed content per chunk.
  struct Backing {
    std::mutex mu;
    std::vector<std::vector<std::byte>> chunks;
  };
  std::vector<Backing> backing(kThreads * kFilesPerThread + 1);
  for (auto& b : backing) b.chunks.assign(kChunks, std::vector<std::byte>(kChunk, std::byte{0}));
  struct Ctx {
    std::vector<Backing>* backing;
    FileId file;
  };
  auto load = [](void* ctx, FileId f, std::uint64_t c, std::byte* b, std::size_t n) {
    auto* bk = static_cast<std::vector<Backing>*>(ctx);
    std::lock_guard<std::mutex> g((*bk)[f].mu);
    std::memcpy(b, (*bk)[f].chunks[c].data(), n);
    return 0;
  };
  auto store = [](void* ctx, std::uint64_t c, const std::byte* b, std::size_t n) {
    auto* x = static_cast<Ctx*>(ctx);
    std::lock_guard<std::mutex> g((*x->backing)[x->file].mu);
    std::memcpy((*x->backing)[x->file].chunks[c].data(), b, n);
    return 0;
  };
  (void)zero;
  std::vector<std::vector<std::vector<std::byte>>> model(
      kThreads * kFilesPerThread + 1,
      std::vector<std::vector<std::byte>>(kChunks, std::vector<std::byte>(kChunk, std::byte{0})));
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::vector<std::byte> buf(kChunk);
      Loader ld{load, &backing};
      for (int i = 0; i < 3000; ++i) {
        const FileId f = 1 + t * kFilesPerThread + rng() % kFilesPerThread;
        const std::uint64_t c = rng() % kChunks;
        const std::size_t len = 1 + rng() % 8192;
        const std::size_t off = rng() % (kChunk - len);
        std::memset(buf.data(), static_cast<int>(rng() & 0xff), len);
        ASSERT_EQ(pool.write_at(f, c, off, buf.data(), len, ld), 0);
        std::memcpy(model[f][c].data() + off, buf.data(), len);
      }
    });
  }
  std::thread flusher([&] {
    while (!stop) {
      for (FileId f = 1; f <= kThreads * kFilesPerThread; ++f) {
        Ctx x{&backing, f};
        ASSERT_EQ(pool.flush_file(f, FlushSink{store, &x}), 0);
      }
      std::this_thread::yield();
    }
  });
  std::thread reader([&] {
    std::vector<std::byte> out(8192);
    std::mt19937_64 rng(99);
    while (!stop) pool.read_at(1 + rng() % (kThreads * kFilesPerThread), rng() % kChunks, 0, out.data(), out.size());
  });
  for (auto& t : ts) t.join();
  stop = true;
  flusher.join();
  reader.join();
  for (FileId f = 1; f <= kThreads * kFilesPerThread; ++f) {
    Ctx x{&backing, f};
    ASSERT_EQ(pool.flush_file(f, FlushSink{store, &x}), 0);
    for (std::uint64_t c = 0; c < kChunks; ++c)
      ASSERT_EQ(std::memcmp(backing[f].chunks[c].data(), model[f][c].data(), kChunk), 0) << f << " " << c;
  }
  const PoolStats st = pool.stats();
  EXPECT_EQ(st.blocks_dirty, 0u);
  EXPECT_EQ(st.writes, static_cast<std::uint64_t>(kThreads * 3000));
}

TEST(VfsPool, ConcurrentWritesToOneChunkAtDisjointOffsets) {
  BlockPool pool(small_config());
  CountingLoader ld;
  constexpr int kThreads = 4;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::vector<std::byte> b(1024, static_cast<std::byte>(t + 1));
      for (int i = 0; i < 2000; ++i)
        ASSERT_EQ(pool.write_at(1, 0, static_cast<std::size_t>(t) * 1024, b.data(), b.size(), ld.loader()), 0);
    });
  }
  for (auto& t : ts) t.join();
  std::vector<std::byte> out(kThreads * 1024);
  ASSERT_TRUE(pool.read_at(1, 0, 0, out.data(), out.size()));
  for (int t = 0; t < kThreads; ++t)
    for (int i = 0; i < 1024; ++i) ASSERT_EQ(out[t * 1024 + i], static_cast<std::byte>(t + 1));
  EXPECT_LE(ld.calls.load(), kThreads);  // racing misses may each load...
  EXPECT_EQ(pool.stats().blocks_live, 1u);  // ...but only one block is published
}

TEST(VfsPool, EvictFileDropsOnlyItsCleanBlocks) {
  BlockPool pool(small_config());
  CountingLoader ld;
  for (std::uint64_t c = 0; c < 4; ++c) ASSERT_EQ(pool.write_at(1, c, 0, "a", 1, ld.loader()), 0);
  for (std::uint64_t c = 0; c < 2; ++c) ASSERT_EQ(pool.write_at(2, c, 0, "b", 1, ld.loader()), 0);
  MemSink s;
  ASSERT_EQ(pool.flush_file(1, s.sink()), 0);
  ASSERT_EQ(pool.flush_file(2, s.sink()), 0);
  ASSERT_EQ(pool.write_at(1, 3, 0, "c", 1, ld.loader()), 0);  // dirty again: must stay
  EXPECT_EQ(pool.evict_file(1), 3 * kChunk);
  EXPECT_EQ(pool.file_resident_blocks(1), 1u);
  EXPECT_EQ(pool.file_dirty_blocks(1), 1u);
  EXPECT_EQ(pool.file_resident_blocks(2), 2u);
  EXPECT_EQ(pool.stats().blocks_live, 3u);
}
