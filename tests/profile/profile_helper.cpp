// A program with known allocation behaviour, run under LD_PRELOAD=libhakmem.so
// HAKMEM_PROFILE=1 by profile_live_test. It links nothing of hakmem. It reads one command
// per line on stdin, does exactly what the command says, publishes its thread's counters
// (hakmem_stats_get publishes the caller's; found with dlsym), and answers "ok" on stdout;
// then it waits for the next command. It makes no other allocations: raw read/write, static arrays.
//
//   alloc N SIZE        malloc N objects of SIZE and keep them
//   free                free every kept object
//   calloc N SIZE       calloc + free, N times
//   realloc N SIZE      malloc(SIZE), realloc to 2*SIZE, free; N times (N reallocs)
//   aligned N AL SIZE   aligned_alloc(AL, SIZE) + free, N times
//   large N SIZE        malloc(SIZE) + touch + free, N times (huge objects)
//   new N SIZE          N operator new of SIZE, kept; the four plain forms in turn
//                       (new, new[], nothrow new, nothrow new[])
//   delete              delete every object kept by new, each with its form's delete
//                       (sized delete for new, unsized for the others)
//   newaligned N AL SIZE  operator new(SIZE, align AL) + aligned delete, N times
//   newlarge N SIZE     operator new(SIZE) + sized delete, N times (SIZE beyond 32 KiB)
//   remote N SIZE       malloc N objects here; a new thread frees them all and exits
//   fork                fork(); the child exits at once through exit()
//   freeodd             free the kept objects at odd positions, keep the others
//   flush               hak_thread_flush: this thread's bins and medium cache back to slabs
//   touch               write every byte of every kept object (SIZE from its alloc line)
//   quit                exit(0) (atexit handlers and destructors run)
#include <dlfcn.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "hakmem/hakmem.h"

namespace {

constexpr unsigned kMaxKept = 200000;
void* g_kept[kMaxKept];
unsigned g_nkept = 0;
void* g_new_kept[kMaxKept];  // from "new", deleted by "delete"
std::size_t g_new_size[kMaxKept];
unsigned g_nnew = 0;
int (*g_stats_get)(hakmem_stats*) = nullptr;
void (*g_thread_flush)() = nullptr;
std::size_t g_kept_size[kMaxKept];  // for touch

// Publishes this thread's fast-path counters (they are otherwise published at refill/flush).
void publish() {
  hakmem_stats s;
  g_stats_get(&s);
}

void say(const char* s) {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(1, s, n);
    if (w <= 0) std::_Exit(3);
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

[[noreturn]] void die(const char* msg) {
  say("error ");
  say(msg);
  say("\n");
  std::_Exit(2);
}

// One line from stdin into buf (without the newline); false at EOF.
bool read_line(char* buf, std::size_t cap) {
  std::size_t n = 0;
  for (;;) {
    char c;
    ssize_t r = ::read(0, &c, 1);
    if (r <= 0) return false;
    if (c == '\n') break;
    if (n + 1 < cap) buf[n++] = c;
  }
  buf[n] = '\0';
  return true;
}

unsigned long arg(char** p) {
  char* end;
  unsigned long v = std::strtoul(*p, &end, 10);
  *p = end;
  return v;
}

void* must(void* p) {
  if (!p) die("allocation failed");
  return p;
}

// The form of operator new used for the i-th object of "new", and its matching delete.
void* new_form(unsigned i, std::size_t size) {
  switch (i % 4) {
    case 0: return ::operator new(size);
    case 1: return ::operator new[](size);
    case 2: return ::operator new(size, std::nothrow);
    default: return ::operator new[](size, std::nothrow);
  }
}
void delete_form(unsigned i, void* p, std::size_t size) {
  switch (i % 4) {
    case 0: ::operator delete(p, size); break;
    case 1: ::operator delete[](p); break;
    case 2: ::operator delete(p, std::nothrow); break;
    default: ::operator delete[](p, std::nothrow); break;
  }
}

struct RemoteJob {
  void** objs;
  unsigned n;
};

void* remote_free_main(void* a) {
  auto* job = static_cast<RemoteJob*>(a);
  for (unsigned i = 0; i < job->n; ++i) std::free(job->objs[i]);
  return nullptr;  // thread exit flushes this thread's cache (remote frees) and publishes
}

}  // namespace

int main() {
  g_stats_get = reinterpret_cast<int (*)(hakmem_stats*)>(dlsym(RTLD_DEFAULT, "hakmem_stats_get"));
  if (!g_stats_get) die("hakmem_stats_get not found: run me with LD_PRELOAD=libhakmem.so");
  g_thread_flush = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "hak_thread_flush"));
  char line[256];
  say("ready\n");
  while (read_line(line, sizeof(line))) {
    char* p = line;
    while (*p == ' ') ++p;
    char* cmd = p;
    while (*p && *p != ' ') ++p;
    if (*p) *p++ = '\0';
    if (!std::strcmp(cmd, "alloc")) {
      unsigned long n = arg(&p), size = arg(&p);
      if (g_nkept + n > kMaxKept) die("too many objects");
      for (unsigned long i = 0; i < n; ++i) {
        auto* o = static_cast<char*>(must(std::malloc(size)));
        o[0] = 1;
        g_kept_size[g_nkept] = size;
        g_kept[g_nkept++] = o;
      }
    } else if (!std::strcmp(cmd, "free")) {
      for (unsigned i = 0; i < g_nkept; ++i) std::free(g_kept[i]);
      g_nkept = 0;
    } else if (!std::strcmp(cmd, "calloc")) {
      unsigned long n = arg(&p), size = arg(&p);
      for (unsigned long i = 0; i < n; ++i) std::free(must(std::calloc(1, size)));
    } else if (!std::strcmp(cmd, "realloc")) {
      unsigned long n = arg(&p), size = arg(&p);
      for (unsigned long i = 0; i < n; ++i) {
        void* o = must(std::malloc(size));
        std::free(must(std::realloc(o, 2 * size)));
      }
    } else if (!std::strcmp(cmd, "aligned")) {
      unsigned long n = arg(&p), al = arg(&p), size = arg(&p);
      for (unsigned long i = 0; i < n; ++i) std::free(must(std::aligned_alloc(al, size)));
    } else if (!std::strcmp(cmd, "large")) {
      unsigned long n = arg(&p), size = arg(&p);
      for (unsigned long i = 0; i < n; ++i) {
        auto* o = static_cast<char*>(must(std::malloc(size)));
        std::memset(o, 1, size);
        std::free(o);
      }
    } else if (!std::strcmp(cmd, "new")) {
      unsigned long n = arg(&p), size = arg(&p);
      if (g_nnew + n > kMaxKept) die("too many objects");
      for (unsigned long i = 0; i < n; ++i) {
        auto* o = static_cast<char*>(must(new_form(g_nnew, size)));
        o[0] = 1;
        g_new_size[g_nnew] = size;
        g_new_kept[g_nnew++] = o;
      }
    } else if (!std::strcmp(cmd, "delete")) {
      for (unsigned i = 0; i < g_nnew; ++i) delete_form(i, g_new_kept[i], g_new_size[i]);
      g_nnew = 0;
    } else if (!std::strcmp(cmd, "newaligned")) {
      unsigned long n = arg(&p), al = arg(&p), size = arg(&p);
      if (n > kMaxKept) die("too many objects");
      static void* objs[kMaxKept];
      for (unsigned long i = 0; i < n; ++i) objs[i] = ::operator new(size, std::align_val_t(al));
      for (unsigned long i = 0; i < n; ++i) ::operator delete(objs[i], std::align_val_t(al));
    } else if (!std::strcmp(cmd, "newlarge")) {
      unsigned long n = arg(&p), size = arg(&p);
      for (unsigned long i = 0; i < n; ++i) {
        auto* o = static_cast<char*>(::operator new(size));
        std::memset(o, 1, size);
        ::operator delete(o, size);
      }
    } else if (!std::strcmp(cmd, "remote")) {
      unsigned long n = arg(&p), size = arg(&p);
      if (n > kMaxKept) die("too many objects");
      static void* objs[kMaxKept];
      for (unsigned long i = 0; i < n; ++i) objs[i] = must(std::malloc(size));
      RemoteJob job{objs, static_cast<unsigned>(n)};
      pthread_t t;
      if (pthread_create(&t, nullptr, remote_free_main, &job) != 0) die("pthread_create");
      pthread_join(t, nullptr);
    } else if (!std::strcmp(cmd, "fork")) {
      pid_t child = fork();
      if (child < 0) die("fork");
      if (child == 0) {
        void* o = std::malloc(64);  // the child allocates, and exits normally
        std::free(o);
        std::exit(0);
      }
      int status = 0;
      waitpid(child, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child failed");
    } else if (!std::strcmp(cmd, "freeodd")) {
      unsigned kept = 0;
      for (unsigned i = 0; i < g_nkept; ++i) {
        if (i % 2) {
          std::free(g_kept[i]);
        } else {
          g_kept_size[kept] = g_kept_size[i];
          g_kept[kept++] = g_kept[i];
        }
      }
      g_nkept = kept;
    } else if (!std::strcmp(cmd, "flush")) {
      if (!g_thread_flush) die("hak_thread_flush not found");
      g_thread_flush();
    } else if (!std::strcmp(cmd, "touch")) {
      for (unsigned i = 0; i < g_nkept; ++i) std::memset(g_kept[i], 1, g_kept_size[i]);
    } else if (!std::strcmp(cmd, "quit")) {
      std::exit(0);
    } else {
      die("unknown command");
    }
    publish();
    say("ok\n");
  }
  return 0;
}
