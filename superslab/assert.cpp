// HAK_ASSERT's failure path (assert.hpp): one write(2) of a line built on the stack, then
// abort(). Defined in every build so that release and debug objects link together.
#include "superslab/assert.hpp"

#include "platform/platform.hpp"

#include <unistd.h>

#include <cstdlib>

namespace hakmem {
namespace {

struct Line {
  char buf[512];
  unsigned len = 0;
  void put(const char* s) {
    while (s && *s && len < sizeof(buf) - 1) buf[len++] = *s++;
  }
  void put_num(int v) {
    char tmp[12];
    int n = 0;
    unsigned u = v < 0 ? 0u : static_cast<unsigned>(v);
    do tmp[n++] = static_cast<char>('0' + u % 10);
    while ((u /= 10) != 0);
    while (n > 0 && len < sizeof(buf) - 1) buf[len++] = tmp[--n];
  }
};

}  // namespace

void assert_fail(const char* file, int line, const char* expr, const char* msg) noexcept {
  Line l;
  l.put("hakmem: ");
  l.put(file);
  l.put(":");
  l.put_num(line);
  l.put(": assertion failed: ");
  l.put(expr);
  if (msg) {
    l.put(" (");
    l.put(msg);
    l.put(")");
  }
  l.buf[l.len++] = '\n';
  // One write: the line stays whole even when several threads fail at once. Nothing to do
  // if it fails; abort() follows either way.
  ssize_t ignored = platform::ops().write(2, l.buf, l.len);
  (void)ignored;
  std::abort();
}

}  // namespace hakmem
