// The proxy's N-API addon: what Node has no API for. N-API only, so the binary does not depend on the
// Node.js version (built against the pinned Node's headers by build.sh).
#ifndef WEFT_NATIVE_H
#define WEFT_NATIVE_H
#include <node_api.h>

// Throws an Error with code ERRNO_<err> and message "<what>: strerror(err)"; returns NULL.
napi_value weft_throw_errno(napi_env env, const char *what, int err);
napi_value weft_get_original_dst(napi_env env, napi_callback_info info);
napi_value weft_release_executable_pages(napi_env env, napi_callback_info info);
napi_value weft_trim_native_heap(napi_env env, napi_callback_info info);

#endif
