// releaseExecutablePages(): drops this process's mappings of its own executable's read-only pages
// (madvise MADV_DONTNEED) and returns what it released. Start-up reads much of the node binary that a
// running proxy never touches again (the heap snapshot it deserialized, built-in modules' sources and
// code cache, ICU data, start-up code); those pages stay resident, and in the RSS, until the process ends.
// After MADV_DONTNEED a page the process touches again is mapped again from the page cache (a minor fault),
// or read from the file if the kernel has evicted it: the contents are the file's, unchanged.
//
// Only mappings that hold nothing but the file's own pages qualify: not writable, and, page by page in
// /proc/self/pagemap, no page that is present without being a file page (a copy-on-write copy, such as a
// relocated RELRO page; the shared zero page that KSM or userfaultfd can put in its place) and no swap entry
// (a swapped-out copy, or a marker left where one was). Dropping such a page would bring back the file's bytes
// in its place. smaps cannot tell: it counts neither the zero page nor markers, and counts dirty page-cache pages
// of a freshly written binary as Private_Dirty. A tracer that attaches a uprobe between the check and the madvise
// loses its breakpoint in this process (the code is the file's); that window is microseconds, once.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "weft_native.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_FILE (1ULL << 61)

// Whether every page of [start, end) is absent or a file page; counts the present ones. -1: pagemap unreadable.
static int only_file_pages(int pagemap, uintptr_t start, uintptr_t end, size_t page, uint64_t *present) {
  uint64_t entries[512];
  uintptr_t first = start / page, last = end / page;
  for (uintptr_t at = first; at < last;) {
    size_t want = last - at < 512 ? (size_t)(last - at) : 512;
    ssize_t got = pread(pagemap, entries, want * sizeof entries[0], (off_t)(at * sizeof entries[0]));
    if (got <= 0 || got % (ssize_t)sizeof entries[0] != 0) return -1;
    size_t n = (size_t)got / sizeof entries[0];
    for (size_t i = 0; i < n; i++) {
      uint64_t e = entries[i];
      if (e & PM_SWAP) return 0;
      if (e & PM_PRESENT) {
        if (!(e & PM_FILE)) return 0;
        *present += 1;
      }
    }
    at += n;
  }
  return 1;
}

napi_value weft_release_executable_pages(napi_env env, napi_callback_info info) {
  (void)info;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return weft_throw_errno(env, "readlink(/proc/self/exe)", errno);
  exe[n] = '\0';
  int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return weft_throw_errno(env, "open(/proc/self/pagemap)", errno);
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) {
    int err = errno;
    close(pagemap);
    return weft_throw_errno(env, "open(/proc/self/maps)", err);
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char line[4608];
  double resident = 0;
  uint32_t count = 0;
  int failed = 0;
  while (fgets(line, sizeof line, maps) != NULL) {
    unsigned long start, end, offset, inode;
    char perms[5], dev[32];
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %4s %lx %31s %lu %n", &start, &end, perms, &offset, dev, &inode, &path_at) < 6 ||
        path_at == 0)
      continue;
    char *path = line + path_at;
    path[strcspn(path, "\n")] = '\0';
    if (perms[1] == 'w' || inode == 0 || end <= start || strcmp(path, exe) != 0) continue;
    uint64_t present = 0;
    int ok = only_file_pages(pagemap, start, end, page, &present);
    if (ok < 0) {
      failed = errno != 0 ? errno : EIO;
      break;
    }
    if (ok == 0 || madvise((void *)start, end - start, MADV_DONTNEED) != 0) continue;
    resident += (double)present * (double)page;
    count += 1;
  }
  fclose(maps);
  close(pagemap);
  if (failed != 0 && count == 0) return weft_throw_errno(env, "read(/proc/self/pagemap)", failed);

  napi_value result, v;
  napi_create_object(env, &result);
  napi_create_uint32(env, count, &v);
  napi_set_named_property(env, result, "mappings", v);
  napi_create_double(env, resident, &v);
  napi_set_named_property(env, result, "residentBytes", v);
  return result;
}
