#include "superslab/hardening.hpp"

#include "superslab/assert.hpp"
#include "superslab/os.hpp"
#include "superslab/superslab.hpp"

namespace hakmem {

bool g_secure_mode = false;
std::uintptr_t g_link_key = 0;

void hardening_enable(std::uintptr_t link_key) {
  HAK_ASSERT(link_key != 0);
  g_link_key = link_key;
  g_secure_mode = true;
}

bool superslab_set_guards(SuperSlab* ss, bool on) {
  if (ss->guarded == on) return true;
  char* base = reinterpret_cast<char*>(ss);
  char* after_header = base + kSuperSlabHeaderSize;
  char* last_page = base + kSuperSlabSize - kGuardSize;
  if (on) {
    if (!os::protect_none(after_header, kGuardSize)) return false;
    if (!os::protect_none(last_page, kGuardSize)) {
      os::protect_read_write(after_header, kGuardSize);
      return false;
    }
  } else {
    // Both or neither: a failure here would leave a guard inside memory handed out as a
    // span, so it is fatal rather than silent.
    bool ok = os::protect_read_write(after_header, kGuardSize) &&
              os::protect_read_write(last_page, kGuardSize);
    if (!ok) {
      assert_fail(__FILE__, __LINE__, "superslab_set_guards(ss, false)",
                  "could not remove a SuperSlab's guard pages (mprotect failed)");
    }
  }
  ss->guarded = on;
  return true;
}

}  // namespace hakmem
