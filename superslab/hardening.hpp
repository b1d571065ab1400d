// Secure mode's state in the SuperSlab layer (HAKMEM_SECURE=1): set once at start-up, before
// any thread heap exists, and read-only afterwards, so plain loads suffice everywhere.
//  - Free-list links (FreeObject::link) are stored XORed with a per-process secret, so a
//    heap overflow or a write after free that overwrites a link decodes to a pointer the
//    list's owner rejects (unified_cache/secure.hpp) instead of following it.
//  - Small SuperSlabs get two guard pages (PROT_NONE): the page after the header, so an
//    underflow out of unit 0 cannot reach the slab metadata, and the SuperSlab's last page,
//    so an overflow out of its last unit cannot reach the next SuperSlab's header.
// Off, the key is 0 (links are plain pointers) and nothing else changes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hakmem {

struct SuperSlab;

extern bool g_secure_mode __attribute__((visibility("hidden")));
extern std::uintptr_t g_link_key __attribute__((visibility("hidden")));

inline bool secure_mode() { return g_secure_mode; }
// Turns secure mode on with the link key (non-zero). Start-up only, before any heap exists.
void hardening_enable(std::uintptr_t link_key);

inline constexpr std::size_t kGuardSize = 4096;

// Adds or removes the two guard pages of a small SuperSlab (two mprotect calls) and records
// it in ss->guarded. Returns false, leaving ss as it was, if the kernel refused (out of
// mappings): the SuperSlab is then used without guards.
bool superslab_set_guards(SuperSlab* ss, bool on);

}  // namespace hakmem
