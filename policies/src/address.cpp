// Address checks (see address.hpp).
#include "airlock/policies/address.hpp"

#include <array>
#include <charconv>

#include <fmt/format.h>

namespace airlock::policies {

namespace {

using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

struct Range {
  std::string_view cidr;
  std::string_view name;
};

// SECURITY.md N1. Order matters only for the name shown: the first range that contains the address.
constexpr std::array<Range, 12> kRefusedV4 = {{
    {"0.0.0.0/8", "this network"},
    {"10.0.0.0/8", "private network"},
    {"100.64.0.0/10", "shared address space (CGNAT)"},
    {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"},
    {"172.16.0.0/12", "private network"},
    {"192.0.0.0/24", "IETF protocol assignments"},
    {"192.168.0.0/16", "private network"},
    {"198.18.0.0/15", "benchmarking"},
    {"224.0.0.0/4", "multicast"},
    {"255.255.255.255/32", "broadcast"},
    {"240.0.0.0/4", "reserved"},
}};

constexpr std::array<Range, 8> kRefusedV6 = {{
    {"::/128", "unspecified"},
    {"::1/128", "loopback"},
    {"fc00::/7", "unique local"},
    {"fe80::/10", "link-local"},
    {"ff00::/8", "multicast"},
    {"64:ff9b::/96", "NAT64"},
    {"64:ff9b:1::/48", "NAT64 (local use)"},
    {"100::/64", "discard"},
}};

// Instance metadata services: they hand out the host's own cloud credentials.
constexpr std::array<std::string_view, 7> kMetadata = {
    "169.254.169.254",  // AWS, GCP, Azure, Oracle, DigitalOcean, ...
    "169.254.170.2",    // AWS ECS task credentials
    "169.254.170.23",   // AWS EKS pod identity
    "100.100.100.200",  // Alibaba Cloud
    "168.63.129.16",    // Azure WireServer (public address space, host-only service)
    "fd00:ec2::254",    // AWS over IPv6
    "fd00:ec2::23",     // AWS EKS pod identity over IPv6
};

template <std::size_t N>
std::vector<Cidr> parse_all(const std::array<Range, N>& table) {
  std::vector<Cidr> out;
  out.reserve(N);
  for (const Range& range : table) out.push_back(Cidr::parse(range.cidr).value());
  return out;
}
const std::vector<Cidr>& refused_v4() {
  static const std::vector<Cidr> ranges = parse_all(kRefusedV4);
  return ranges;
}
const std::vector<Cidr>& refused_v6() {
  static const std::vector<Cidr> ranges = parse_all(kRefusedV6);
  return ranges;
}

const std::vector<Address>& metadata_addresses() {
  static const std::vector<Address> addresses = [] {
    std::vector<Address> out;
    out.reserve(kMetadata.size());
    for (std::string_view text : kMetadata) out.push_back(*parse_address(text));
    return out;
  }();
  return addresses;
}

// The address's bytes (4 or 16 of them, at the front).
std::array<unsigned char, 16> bytes_of(const Address& address) noexcept {
  std::array<unsigned char, 16> out{};
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), out.begin());
  } else {
    out = address.to_v6().to_bytes();
  }
  return out;
}

// The address with every bit after the first `prefix` cleared.
Address masked(const Address& address, unsigned prefix) noexcept {
  auto bytes = bytes_of(address);
  const unsigned size = address.is_v4() ? 4 : 16;
  for (unsigned i = 0; i < size; ++i) {
    const unsigned kept = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
    bytes[i] &= static_cast<unsigned char>(0xff00u >> kept);
  }
  if (address.is_v4()) return address_v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  return address_v6(bytes);
}

struct Found {
  std::string_view name;
  const Cidr* range = nullptr;
};

std::optional<Found> refused_range(const Address& address) {
  if (address.is_v4()) {
    const auto& ranges = refused_v4();
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      if (ranges[i].contains(address)) return Found{kRefusedV4[i].name, &ranges[i]};
    }
    return std::nullopt;
  }
  const auto& ranges = refused_v6();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].contains(address)) return Found{kRefusedV6[i].name, &ranges[i]};
  }
  return std::nullopt;
}

bool is_metadata(const Address& address) {
  for (const Address& metadata : metadata_addresses()) {
    if (metadata == address) return true;
  }
  return false;
}

// One hex or decimal or octal part of an inet_aton address; nullopt when not a number.
std::optional<std::uint64_t> aton_part(std::string_view part) noexcept {
  if (part.empty()) return std::nullopt;
  int base = 10;
  if (part.size() > 1 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
    base = 16;
    part.remove_prefix(2);
    if (part.empty()) return std::nullopt;  // inet_aton wants a digit after "0x"
  } else if (part.size() > 1 && part[0] == '0') {
    base = 8;
    part.remove_prefix(1);
  }
  // Leading zeros change nothing (inet_aton reads with strtoul), however many: only the digits after them
  // are bounded, so that from_chars cannot overflow.
  while (part.size() > 1 && part[0] == '0') part.remove_prefix(1);
  if (part.size() > 16) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value, base);
  if (ec != std::errc() || end != part.data() + part.size()) return std::nullopt;
  return value;
}

// inet_aton's grammar: a.b.c.d (8 bits each), a.b.c (c 16 bits), a.b (b 24 bits), a (32 bits).
std::optional<address_v4> parse_aton(std::string_view text) noexcept {
  std::array<std::uint64_t, 4> parts{};
  std::size_t count = 0;
  while (true) {
    const std::size_t dot = text.find('.');
    if (count == parts.size()) return std::nullopt;
    const auto part = aton_part(text.substr(0, dot));
    if (!part) return std::nullopt;
    parts[count++] = *part;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  std::uint64_t value = 0;
  for (std::size_t i = 0; i + 1 < count; ++i) {
    if (parts[i] > 0xff) return std::nullopt;
    value = value << 8 | parts[i];
  }
  const unsigned last_bits = 8 * static_cast<unsigned>(5 - count);
  if (parts[count - 1] >> last_bits != 0) return std::nullopt;
  value = value << last_bits | parts[count - 1];
  return address_v4(static_cast<address_v4::uint_type>(value));
}

}  // namespace

// ---- Cidr ----

Result<Cidr> Cidr::parse(std::string_view text) {
  const std::size_t slash = text.find('/');
  boost::system::error_code ec;
  const Address network = boost::asio::ip::make_address(std::string(text.substr(0, slash)), ec);
  if (ec || (network.is_v6() && network.to_v6().scope_id() != 0)) {
    return fmt::format("{:?} is not a CIDR range; write an address and a prefix length, like 10.0.0.0/8 or fd00::/8",
                       text);
  }
  const unsigned max = network.is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, parse_ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || parse_ec != std::errc() || end != digits.data() + digits.size() || prefix > max) {
      return fmt::format("{:?}: the prefix length must be a number from 0 to {}", text, max);
    }
  }
  // Bits set after the prefix are a typo more often than not ("10.1.2.3/8"): say which range is meant.
  if (const Address base = masked(network, prefix); base != network) {
    return fmt::format("{:?} has bits set after the first {}; did you mean {}/{}?", text, prefix, base.to_string(),
                       prefix);
  }
  return Cidr(network, prefix);
}

Cidr Cidr::of(const Address& address) { return Cidr(address, address.is_v4() ? 32 : 128); }

bool Cidr::contains(const Address& address) const noexcept {
  return address.is_v4() == network_.is_v4() && masked(address, prefix_) == network_;
}

std::string Cidr::text() const { return fmt::format("{}/{}", network_.to_string(), prefix_); }

// ---- embedded IPv4 ----

std::optional<address_v4> embedded_v4(const address_v6& address) noexcept {
  const auto b = address.to_bytes();
  const auto v4_at = [&](std::size_t at) { return address_v4({b[at], b[at + 1], b[at + 2], b[at + 3]}); };
  if (address.is_v4_mapped()) return v4_at(12);
  // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks); :: and ::1 are their own ranges.
  bool zero_prefix = true;
  for (std::size_t i = 0; i < 12; ++i) zero_prefix = zero_prefix && b[i] == 0;
  if (zero_prefix && !address.is_unspecified() && !address.is_loopback()) return v4_at(12);
  if (b[0] == 0x20 && b[1] == 0x02) return v4_at(2);  // 6to4: 2002:AABB:CCDD::/48
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) return v4_at(4);  // Teredo server
  return std::nullopt;
}

std::optional<address_v4> teredo_client(const address_v6& address) noexcept {
  const auto b = address.to_bytes();
  if (!(b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0)) return std::nullopt;
  return address_v4({static_cast<unsigned char>(~b[12]), static_cast<unsigned char>(~b[13]),
                     static_cast<unsigned char>(~b[14]), static_cast<unsigned char>(~b[15])});
}

std::optional<Address> parse_address(std::string_view text) noexcept {
  // As long as a host name may be (253): leading zeros make an address's spelling as long as anyone likes,
  // and a shorter bound here would leave such a spelling to be taken for a name.
  if (text.empty() || text.size() > 253) return std::nullopt;
  if (text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.find(':') != std::string_view::npos) {
    boost::system::error_code ec;
    const address_v6 v6 = boost::asio::ip::make_address_v6(std::string(text), ec);
    if (ec || v6.scope_id() != 0) return std::nullopt;
    return Address(v6);
  }
  if (auto v4 = parse_aton(text)) return Address(*v4);
  return std::nullopt;
}

// ---- AddressRules ----

AddressRules::AddressRules(std::vector<Cidr> allow_private, std::vector<OwnListener> own_listeners)
    : allow_private_(std::move(allow_private)), own_(std::move(own_listeners)) {}

AddressVerdict AddressRules::check(const Address& address, std::uint16_t port, bool internal) const {
  AddressVerdict verdict;
  const auto refuse = [&](std::string_view range, std::string cidr, std::string hint) {
    verdict.allowed = false;
    verdict.range = std::string(range);
    verdict.cidr = std::move(cidr);
    verdict.hint = std::move(hint);
    return verdict;
  };
  const std::string single = Cidr::of(address).text();

  // Airlock's own listeners: never, at any address they answer on (loopback included, whatever opens it).
  std::vector<Address> forms = {address};
  if (address.is_v6()) {
    if (auto v4 = embedded_v4(address.to_v6())) forms.emplace_back(*v4);
    if (auto client = teredo_client(address.to_v6())) forms.emplace_back(*client);
  }
  for (const OwnListener& own : own_) {
    for (const Address& form : forms) {
      // A listener on 0.0.0.0 or :: also answers on every loopback address (:: on IPv4 ones too); the
      // caller lists the machine's other addresses as listeners of their own.
      const bool answers = form == own.address ||
                           (own.address.is_unspecified() && form.is_loopback() && (own.address.is_v6() || form.is_v4()));
      if (answers && port == own.port) {
        return refuse(fmt::format("Airlock's own {} listener", own.name), fmt::format("{}:{}", form.to_string(), port),
                      "Airlock never proxies to itself");
      }
    }
  }

  for (const Address& form : forms) {
    if (is_metadata(form)) {
      for (const Cidr& allowed : allow_private_) {
        if (allowed.single() && allowed.network() == form) return verdict;
      }
      return refuse("cloud metadata", Cidr::of(form).text(),
                    fmt::format("allow it with --allow-private {} (on its own: a wider range does not open it)",
                                Cidr::of(form).text()));
    }
  }

  for (const Address& form : forms) {
    const auto found = refused_range(form);
    if (!found) continue;
    if (internal) continue;
    bool opened = false;
    for (const Cidr& allowed : allow_private_) opened = opened || allowed.contains(form);
    if (opened) continue;
    return refuse(found->name, found->range->text(),
                  fmt::format("allow it with --allow-private {}, or name the host in a policy rule with internal: true",
                              form == address ? single : Cidr::of(form).text()));
  }
  return verdict;
}

}  // namespace airlock::policies
