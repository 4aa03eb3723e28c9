// malloc_trim(0): hands the free pages inside glibc's heaps back to the kernel. glibc returns memory on its own
// only from the top of a heap; a burst of short-lived allocations (the operator's TLS connections and sealed
// frames during a reconnect storm) leaves the pages below live data resident after they are freed.
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "weft_native.h"

// Returns { released: boolean, ms: number }: whether anything was released, and how long the call took.
napi_value weft_trim_native_heap(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int released = 0;
#ifdef __GLIBC__
  released = malloc_trim(0);
#endif
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  napi_value out, v;
  napi_create_object(env, &out);
  napi_get_boolean(env, released != 0, &v);
  napi_set_named_property(env, out, "released", v);
  napi_create_double(env, ms, &v);
  napi_set_named_property(env, out, "ms", v);
  return out;
}
