#include <stdio.h>
#include <string.h>

#include "weft_native.h"

napi_value weft_throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  char code[32];
  snprintf(code, sizeof code, "ERRNO_%d", err);
  napi_throw_error(env, code, msg);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "getOriginalDst", NAPI_AUTO_LENGTH, weft_get_original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "getOriginalDst", fn);
  napi_create_function(env, "releaseExecutablePages", NAPI_AUTO_LENGTH, weft_release_executable_pages, NULL,
                       &fn);
  napi_set_named_property(env, exports, "releaseExecutablePages", fn);
  napi_create_function(env, "trimNativeHeap", NAPI_AUTO_LENGTH, weft_trim_native_heap, NULL, &fn);
  napi_set_named_property(env, exports, "trimNativeHeap", fn);
  return exports;
}
