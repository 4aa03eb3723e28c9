// getOriginalDst(fd): the destination a connection had before an iptables REDIRECT/DNAT rewrote it,
// read from conntrack with getsockopt(SO_ORIGINAL_DST). Node has no API for it.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "weft_native.h"

static napi_value make_result(napi_env env, const char *addr, unsigned port, int family) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "address", v);
  napi_create_uint32(env, port, &v);
  napi_set_named_property(env, obj, "port", v);
  napi_create_uint32(env, (uint32_t)family, &v);
  napi_set_named_property(env, obj, "family", v);
  return obj;
}

napi_value weft_get_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "getOriginalDst(fd): fd must be a non-negative integer");
    return NULL;
  }
  // An IPv4 connection (also one accepted on a dual-stack IPv6 socket) is answered at SOL_IP.
  struct sockaddr_in in4;
  socklen_t len4 = sizeof in4;
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &in4, &len4) == 0 && in4.sin_family == AF_INET) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &in4.sin_addr, buf, sizeof buf);
    return make_result(env, buf, ntohs(in4.sin_port), 4);
  }
  int err4 = errno;
  struct sockaddr_in6 in6;
  socklen_t len6 = sizeof in6;
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &in6, &len6) == 0 && in6.sin6_family == AF_INET6) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof buf);
    return make_result(env, buf, ntohs(in6.sin6_port), 6);
  }
  // ENOENT: no conntrack entry, i.e. the connection was not redirected.
  return weft_throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", err4 == ENOENT ? ENOENT : errno);
}
