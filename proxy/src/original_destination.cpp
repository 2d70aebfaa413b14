// original_destination (see original_destination.hpp).
#include "original_destination.hpp"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace airlock::proxy {

namespace {

using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;
using boost::asio::ip::tcp;

std::optional<tcp::endpoint> endpoint_of(const sockaddr_storage& storage) {
  if (storage.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(storage);
    return tcp::endpoint(address_v4(ntohl(in.sin_addr.s_addr)), ntohs(in.sin_port));
  }
  if (storage.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(storage);
    address_v6::bytes_type bytes;
    std::copy(std::begin(in6.sin6_addr.s6_addr), std::end(in6.sin6_addr.s6_addr), bytes.begin());
    return tcp::endpoint(address_v6(bytes, in6.sin6_scope_id), ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

}  // namespace

std::optional<TransparentAddresses> transparent_addresses(int socket) {
  sockaddr_storage local{}, peer{}, original{};
  socklen_t local_size = sizeof local, peer_size = sizeof peer;
  if (::getsockname(socket, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
      ::getpeername(socket, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
    return std::nullopt;
  }
  auto source = endpoint_of(peer);
  auto destination = endpoint_of(local);  // TPROXY, or no redirect at all
  if (!source || !destination) return std::nullopt;
  socklen_t original_size = sizeof original;
  const bool v6 = local.ss_family == AF_INET6;
  // An IPv4 connection on a dual-stack IPv6 listener was redirected by the IPv4 table.
  const bool mapped = v6 && destination->address().to_v6().is_v4_mapped();
  const int level = v6 && !mapped ? SOL_IPV6 : SOL_IP;
  // NOLINTNEXTLINE(bugprone-branch-clone): both are 80 on Linux; the names say which table answers
  const int option = v6 && !mapped ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST;
  if (::getsockopt(socket, level, option, &original, &original_size) == 0) {
    if (auto redirected = endpoint_of(original)) destination = redirected;
  }
  return TransparentAddresses{*source, *destination};
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto& address = endpoint.address();
  if (address.is_v6()) return fmt::format("[{}]:{}", address.to_string(), endpoint.port());
  return fmt::format("{}:{}", address.to_string(), endpoint.port());
}

bool enable_tproxy(int socket, bool v6) noexcept {
  const int one = 1;
  return v6 ? ::setsockopt(socket, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one) == 0
            : ::setsockopt(socket, SOL_IP, IP_TRANSPARENT, &one, sizeof one) == 0;
}

}  // namespace airlock::proxy
