// original_destination: where a connection accepted on a transparent listener was going. Thin: two
// getsockopt/getsockname calls on the accepted socket.
//
//   REDIRECT (iptables/nftables NAT): the kernel rewrote the destination to the listener; conntrack keeps
//     the original, read with SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6).
//   TPROXY: the destination was never rewritten; the socket's local address IS the original destination
//     (the listener has IP_TRANSPARENT set).
//
// The original destination decides only the upstream port (and the host when a TLS client sends no SNI);
// it is recorded in the audit. The host name comes from SNI or Host and Airlock resolves it itself.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace airlock::proxy {

struct TransparentAddresses {
  boost::asio::ip::tcp::endpoint source;                // the sandbox's end
  boost::asio::ip::tcp::endpoint original_destination;  // what it dialled
};

// nullopt when the socket has no addresses (it has already been reset by the peer).
std::optional<TransparentAddresses> transparent_addresses(int socket);

// "203.0.113.7:443", "[2001:db8::1]:443".
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

// Sets IP_TRANSPARENT (IPV6_TRANSPARENT) on a listening socket, so TPROXY can hand it connections for
// addresses that are not this machine's. False when not permitted (it needs CAP_NET_ADMIN; REDIRECT
// works without it).
bool enable_tproxy(int socket, bool v6) noexcept;

}  // namespace airlock::proxy
