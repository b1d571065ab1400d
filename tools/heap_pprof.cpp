// The heap profile as pprof's profile.proto, gzipped: written by hand (a varint writer; no
// protobuf library), the layout of https://github.com/google/pprof/blob/main/proto/profile.proto.
// Sample types as Go's heap profiles: alloc_objects, alloc_space, inuse_objects, inuse_space.
#include <zlib.h>

#include <map>

#include "heap_profile.hpp"

namespace hakstat {
namespace {

class Proto {
 public:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      buf_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf_ += static_cast<char>(v);
  }
  void key(unsigned field, unsigned wire) { varint((std::uint64_t{field} << 3) | wire); }
  void u64(unsigned field, std::uint64_t v) {  // int64/uint64 fields, wire type 0
    key(field, 0);
    varint(v);
  }
  void bytes(unsigned field, const std::string& s) {
    key(field, 2);
    varint(s.size());
    buf_ += s;
  }
  void packed(unsigned field, const std::vector<std::uint64_t>& v) {
    Proto inner;
    for (std::uint64_t x : v) inner.varint(x);
    bytes(field, inner.buf_);
  }
  const std::string& str() const { return buf_; }

 private:
  std::string buf_;
};

class Strings {
 public:
  Strings() { id(""); }
  std::uint64_t id(const std::string& s) {
    auto [it, fresh] = ids_.try_emplace(s, list_.size());
    if (fresh) list_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& list() const { return list_; }

 private:
  std::map<std::string, std::uint64_t> ids_;
  std::vector<std::string> list_;
};

std::string gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw Error("zlib: deflateInit2 failed");
  }
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error("zlib: deflate failed");
  out.resize(z.total_out);
  return out;
}

}  // namespace

std::string render_pprof(const HeapProfile& p) {
  Strings st;
  Proto prof;
  for (auto [type, unit] : {std::pair{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                            {"inuse_objects", "count"}, {"inuse_space", "bytes"}}) {
    Proto vt;
    vt.u64(1, st.id(type));
    vt.u64(2, st.id(unit));
    prof.bytes(1, vt.str());
  }
  // Functions by (name, file); locations by (address, function): one line each.
  std::map<std::pair<std::string, std::string>, std::uint64_t> functions;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> locations;
  Proto funcs, locs;
  for (const Site& s : p.sites) {
    std::vector<std::uint64_t> loc_ids;
    for (auto it = s.frames.rbegin(); it != s.frames.rend(); ++it) {  // leaf first
      auto fkey = std::pair{it->function, it->file};
      auto [fi, fnew] = functions.try_emplace(fkey, functions.size() + 1);
      if (fnew) {
        Proto f;
        f.u64(1, fi->second);
        f.u64(2, st.id(it->function));
        f.u64(3, st.id(it->function));
        f.u64(4, st.id(it->file));
        funcs.bytes(5, f.str());
      }
      auto [li, lnew] = locations.try_emplace(std::pair{it->addr, fi->second}, locations.size() + 1);
      if (lnew) {
        Proto line;
        line.u64(1, fi->second);
        line.u64(2, static_cast<std::uint64_t>(it->line));
        Proto l;
        l.u64(1, li->second);
        l.u64(3, it->addr);
        l.bytes(4, line.str());
        locs.bytes(4, l.str());
      }
      loc_ids.push_back(li->second);
    }
    Proto sample;
    sample.packed(1, loc_ids);
    sample.packed(2, {s.alloc_objects, s.alloc_bytes, s.live_objects, s.live_bytes});
    prof.bytes(2, sample.str());
  }
  std::string out = prof.str() + locs.str() + funcs.str();
  Proto tail;
  Proto period_type;
  period_type.u64(1, st.id("space"));
  period_type.u64(2, st.id("bytes"));
  tail.bytes(11, period_type.str());
  tail.u64(12, p.sample_bytes);
  tail.u64(14, st.id("inuse_space"));  // default_sample_type
  Proto strings;
  for (const std::string& s : st.list()) strings.bytes(6, s);
  return gzip(out + strings.str() + tail.str());
}

}  // namespace hakstat
