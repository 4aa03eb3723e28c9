{
  "targets": [
    {
      "target_name": "weft_native",
      "sources": ["addon.c", "original_dst.c", "executable_pages.c", "heap_trim.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
