// airlock::policies address checks — which upstream addresses a sandbox may reach (SECURITY.md N1, N2).
//
// Airlock resolves every upstream host itself, checks EVERY address it would use with AddressRules::check,
// refuses the connection when any of them is refused, and then connects to an address it checked, never
// to the result of a second lookup (so DNS rebinding cannot slip a private address past the check).
//
// Refused by default, with no configuration (the `range` named in the verdict):
//   IPv4  0.0.0.0/8 "this network", 10/8 172.16/12 192.168/16 "private", 100.64/10 "shared (CGNAT)",
//         127/8 "loopback", 169.254/16 "link-local", 192.0.0/24 "IETF protocol assignments",
//         198.18/15 "benchmarking", 224/4 "multicast", 240/4 "reserved", 255.255.255.255 "broadcast";
//   IPv6  ::/128 "unspecified", ::1 "loopback", fc00::/7 "unique local", fe80::/10 "link-local",
//         ff00::/8 "multicast", 64:ff9b::/96 and 64:ff9b:1::/48 "NAT64", 100::/64 "discard";
//   and IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped (::ffff:a.b.c.d),
//   IPv4-compatible (::a.b.c.d), 6to4 (2002:AABB:CCDD::/48), Teredo (2001:0::/32: server and client).
//   Cloud metadata endpoints ("metadata": 169.254.169.254, 169.254.170.2, 169.254.170.23,
//   100.100.100.200, 168.63.129.16, fd00:ec2::254, fd00:ec2::23) are refused even inside an allowed range:
//   only an allow-list entry that names exactly that address (a /32 or /128) opens one.
//   Airlock's own listeners ("Airlock's own listener") are refused always, whatever is allowed.
//
// The allow list (proxy.allow_private, --allow-private CIDR) opens ranges; a policy rule with
// `internal: true` opens the addresses of its host (policy.hpp).
//
// Pure and thread-safe after construction; check() allocates only for a refusal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/outcome/result.hpp>

namespace airlock::policies {

// A value or a message that says what is wrong and what is accepted.
template <class T>
using Result = boost::outcome_v2::result<T, std::string, boost::outcome_v2::policy::terminate>;

using Address = boost::asio::ip::address;

// An address range, "10.0.0.0/8" or "fd00::/8" (a bare address is its /32 or /128).
class Cidr {
 public:
  // Refuses host bits set below the prefix ("10.1.2.3/8"), prefixes out of range, anything not an address.
  static Result<Cidr> parse(std::string_view text);
  static Cidr of(const Address& address);  // the single address

  bool contains(const Address& address) const noexcept;  // same family only
  bool single() const noexcept { return prefix_ == (network_.is_v4() ? 32u : 128u); }
  const Address& network() const noexcept { return network_; }
  unsigned prefix() const noexcept { return prefix_; }
  std::string text() const;  // "10.0.0.0/8"

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  Cidr(Address network, unsigned prefix) : network_(std::move(network)), prefix_(prefix) {}
  Address network_;
  unsigned prefix_ = 0;
};

// An allow-list entry and where it was given ("--allow-private", "proxy.allow_private in FILE"), so an
// operator can tell which configuration opened a range.
struct AllowedRange {
  Cidr cidr;
  std::string source;
};

// An address Airlock listens on (the API, the proxy, a transparent listener), for the always-refused
// rule. An unspecified address (0.0.0.0, ::) covers the loopback addresses here; the caller lists the
// machine's other addresses (getifaddrs) as listeners of their own.
struct OwnListener {
  Address address;
  std::uint16_t port = 0;
  std::string name;  // "API", "proxy"
};

struct AddressVerdict {
  bool allowed = true;
  std::string range;   // refused: the range's name ("loopback", "metadata", ...)
  std::string cidr;    // refused: the range as CIDR, or the listener's address:port
  std::string hint;    // refused: what opens it ("--allow-private 127.0.0.1/32"), or why nothing can
};

class AddressRules {
 public:
  AddressRules() = default;
  AddressRules(std::vector<Cidr> allow_private, std::vector<OwnListener> own_listeners);

  // The verdict for connecting to address:port. `internal`: a policy rule named this host internal
  // (opens every default-refused range except metadata and Airlock's own listeners).
  AddressVerdict check(const Address& address, std::uint16_t port, bool internal = false) const;

  const std::vector<Cidr>& allow_private() const noexcept { return allow_private_; }
  const std::vector<OwnListener>& own_listeners() const noexcept { return own_; }

 private:
  std::vector<Cidr> allow_private_;
  std::vector<OwnListener> own_;
};

// The IPv4 address an IPv6 address carries, if it is one of the embedding forms above (for Teredo, the
// server; teredo_client() gives the client). nullopt otherwise.
std::optional<boost::asio::ip::address_v4> embedded_v4(const boost::asio::ip::address_v6& address) noexcept;
std::optional<boost::asio::ip::address_v4> teredo_client(const boost::asio::ip::address_v6& address) noexcept;

// An IPv4 address in any spelling a resolver accepts (inet_aton: one to four parts, each decimal, octal
// with a leading 0, or hex with 0x; "127.1", "2130706433", "0x7f000001", "0177.0.0.1"), or an IPv6 literal
// with or without brackets. nullopt when `text` is not an address (it may be a host name).
std::optional<Address> parse_address(std::string_view text) noexcept;

}  // namespace airlock::policies
