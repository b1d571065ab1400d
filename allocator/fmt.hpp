// Minimal allocation-free text formatting for messages written with write(2): the allocator
// must not call printf-family functions that might allocate while it is being called.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

class TextBuf {
 public:
  TextBuf& str(const char* s) {
    while (s && *s && len_ < sizeof(buf_) - 1) buf_[len_++] = *s++;
    return *this;
  }
  TextBuf& num(std::uint64_t v) {
    char tmp[24];
    int n = 0;
    do tmp[n++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0 && len_ < sizeof(buf_) - 1) buf_[len_++] = tmp[--n];
    return *this;
  }
  TextBuf& snum(std::int64_t v) {
    if (v < 0) {
      str("-");
      return num(static_cast<std::uint64_t>(-(v + 1)) + 1);
    }
    return num(static_cast<std::uint64_t>(v));
  }
  TextBuf& hex(std::uint64_t v) {
    str("0x");
    char tmp[16];
    int n = 0;
    do tmp[n++] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) != 0);
    while (n > 0 && len_ < sizeof(buf_) - 1) buf_[len_++] = tmp[--n];
    return *this;
  }
  TextBuf& pad_to(std::size_t col) {
    while (len_ < col && len_ < sizeof(buf_) - 1) buf_[len_++] = ' ';
    return *this;
  }
  // Writes the buffer to fd 2 and empties it.
  void flush_stderr();
  std::size_t size() const { return len_; }
  const char* data() const { return buf_; }

 private:
  char buf_[512];
  std::size_t len_ = 0;
};

}  // namespace hakmem
