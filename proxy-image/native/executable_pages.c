// releaseExecutablePages(): drops this process's mappings of its own executable's read-only pages
// (madvise MADV_DONTNEED) and returns what it released. Start-up reads much of the node binary that a
// running proxy never touches again (the heap snapshot it deserialized, built-in modules' sources and
// code cache, ICU data, start-up code); those pages stay resident, and in the RSS, until the process ends.
// After MADV_DONTNEED a page the process touches again is mapped again from the page cache (a minor fault),
// or read from the file if the kernel has evicted it: the contents are the file's, unchanged.
//
// Only mappings that are exactly the file's contents qualify: not writable, and without a single
// copy-on-write page, resident or swapped out (Anonymous and Swap both 0: in a private file mapping a page the
// process wrote becomes an anonymous page). A read-only mapping with such pages (RELRO: relocated, then made
// read-only) would lose its relocations, and is never touched. Private_Dirty is not a criterion: it also counts
// file pages still dirty in the page cache (a binary just written, as in a freshly pulled image), whose
// contents a fault maps again unchanged. The decision is taken once a mapping's whole smaps block has been read
// (Swap comes after Anonymous).
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "weft_native.h"

struct mapping {
  uintptr_t start, end;
  int candidate;
  unsigned long rss_kb, private_kb;
};

// Releases `m` when it qualifies; adds to the totals.
static void release(const struct mapping *m, double *bytes, double *resident, uint32_t *count) {
  if (!m->candidate || m->private_kb != 0 || m->end <= m->start) return;
  if (madvise((void *)m->start, m->end - m->start, MADV_DONTNEED) != 0) return;
  *bytes += (double)(m->end - m->start);
  *resident += (double)m->rss_kb * 1024.0;
  *count += 1;
}

napi_value weft_release_executable_pages(napi_env env, napi_callback_info info) {
  (void)info;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return weft_throw_errno(env, "readlink(/proc/self/exe)", errno);
  exe[n] = '\0';
  FILE *f = fopen("/proc/self/smaps", "re");
  if (f == NULL) return weft_throw_errno(env, "open(/proc/self/smaps)", errno);

  char line[4608];
  struct mapping m = {0, 0, 0, 0, 0};
  double bytes = 0, resident = 0;
  uint32_t count = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    // Detail lines start with a capitalised key ("Rss:", "Swap:"); mapping lines with a hex address.
    if (isupper((unsigned char)line[0])) {
      unsigned long kb;
      if (sscanf(line, "Rss: %lu kB", &kb) == 1) m.rss_kb = kb;
      else if (sscanf(line, "Anonymous: %lu kB", &kb) == 1 || sscanf(line, "Swap: %lu kB", &kb) == 1)
        m.private_kb += kb;
      continue;
    }
    // A new mapping: the previous one's block is complete.
    release(&m, &bytes, &resident, &count);
    unsigned long start, end, offset, inode;
    char perms[5], dev[32];
    int path_at = 0;
    m = (struct mapping){0, 0, 0, 0, 0};
    if (sscanf(line, "%lx-%lx %4s %lx %31s %lu %n", &start, &end, perms, &offset, dev, &inode, &path_at) < 6 ||
        path_at == 0)
      continue;
    char *path = line + path_at;
    path[strcspn(path, "\n")] = '\0';
    m.start = start;
    m.end = end;
    m.candidate = perms[1] != 'w' && inode != 0 && strcmp(path, exe) == 0;
  }
  release(&m, &bytes, &resident, &count);
  fclose(f);

  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_uint32(env, count, &v);
  napi_set_named_property(env, result, "mappings", v);
  napi_create_double(env, bytes, &v);
  napi_set_named_property(env, result, "bytes", v);
  napi_create_double(env, resident, &v);
  napi_set_named_property(env, result, "residentBytes", v);
  return result;
}
