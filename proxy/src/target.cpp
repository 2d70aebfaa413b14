// Destination parsing and base64 (see target.hpp).
#include "target.hpp"

#include <charconv>

namespace airlock::proxy {

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Splits "host", "host:port", "[v6]" or "[v6]:port". `port` is empty when absent.
bool split_authority(std::string_view authority, std::string_view& host, std::string_view& port) {
  if (authority.empty()) return false;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    const auto rest = authority.substr(close + 1);
    if (rest.empty()) {
      port = {};
      return true;
    }
    if (rest.front() != ':') return false;
    port = rest.substr(1);
    return !port.empty();
  }
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    host = authority;
    port = {};
    return true;
  }
  host = authority.substr(0, colon);
  port = authority.substr(colon + 1);
  return host.find(':') == std::string_view::npos && !port.empty();  // a bare IPv6 needs brackets
}

std::optional<Authority> make_authority(std::string_view host_text, std::uint16_t port) {
  auto host = certs::validate_host(host_text);
  if (!host) return std::nullopt;
  return Authority{std::move(*host), port};
}

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<Authority> parse_connect_target(std::string_view target) {
  std::string_view host, port;
  if (!split_authority(target, host, port) || port.empty()) return std::nullopt;
  const auto number = parse_port(port);
  if (!number) return std::nullopt;
  return make_authority(host, *number);
}

std::optional<Authority> parse_host_header(std::string_view value, std::uint16_t default_port) {
  std::string_view host, port;
  if (!split_authority(value, host, port)) return std::nullopt;
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // the fully qualified spelling
  if (port.empty()) return make_authority(host, default_port);
  const auto number = parse_port(port);
  if (!number) return std::nullopt;
  return make_authority(host, *number);
}

std::optional<AbsoluteUrl> parse_absolute_url(std::string_view target) {
  const auto sep = target.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string scheme;
  for (char c : target.substr(0, sep)) scheme += lower(c);
  std::uint16_t default_port = 0;
  if (scheme == "http") {
    default_port = 80;
  } else if (scheme == "https") {
    default_port = 443;
  } else {
    return std::nullopt;
  }
  const auto rest = target.substr(sep + 3);
  const auto path_start = rest.find_first_of("/?#");
  const auto authority = rest.substr(0, path_start);
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no userinfo in a request target
  std::string_view host, port;
  if (!split_authority(authority, host, port)) return std::nullopt;
  std::uint16_t number = default_port;
  if (!port.empty()) {
    const auto parsed = parse_port(port);
    if (!parsed) return std::nullopt;
    number = *parsed;
  }
  auto validated = make_authority(host, number);
  if (!validated) return std::nullopt;
  std::string origin_form;
  if (path_start != std::string_view::npos) {
    const auto tail = rest.substr(path_start);
    if (tail.find('#') != std::string_view::npos) return std::nullopt;
    if (tail.front() == '?') origin_form = "/";
    origin_form += tail;
  } else {
    origin_form = "/";
  }
  return AbsoluteUrl{std::move(scheme), std::move(*validated), std::move(origin_form)};
}

bool host_header_matches(std::string_view value, const certs::ValidatedHost& host, std::uint16_t port) {
  std::string_view name, port_text;
  if (!split_authority(value, name, port_text)) return false;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // the fully qualified spelling
  if (host.is_ip()) {
    // Compare canonical forms: "[0:0::1]" and "[::1]", "127.1" and "127.0.0.1" name the same address.
    auto parsed = certs::validate_host(name);
    if (!parsed || parsed->text() != host.text()) return false;
  } else if (!iequals(name, host.text())) {
    return false;
  }
  if (port_text.empty()) return true;
  const auto number = parse_port(port_text);
  return number && *number == port;
}

std::string_view path_of(std::string_view target) noexcept {
  if (const auto sep = target.find("://"); sep != std::string_view::npos && target.front() != '/') {
    const auto path_start = target.find('/', sep + 3);
    target = path_start == std::string_view::npos ? std::string_view("/") : target.substr(path_start);
  }
  return target.substr(0, target.find_first_of("?#"));
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + static_cast<std::size_t>(k)];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++padding;
        continue;
      }
      if (padding > 0) return std::nullopt;  // data after '='
      v[k] = sextet(c);
      if (v[k] < 0) return std::nullopt;
    }
    const unsigned triple = static_cast<unsigned>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out += static_cast<char>(triple >> 16 & 0xFF);
    if (padding < 2) out += static_cast<char>(triple >> 8 & 0xFF);
    if (padding < 1) out += static_cast<char>(triple & 0xFF);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned triple = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[triple >> 18 & 63];
    out += kAlphabet[triple >> 12 & 63];
    out += kAlphabet[triple >> 6 & 63];
    out += kAlphabet[triple & 63];
  }
  if (const std::size_t left = bytes.size() - i; left > 0) {
    unsigned triple = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (left == 2) triple |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[triple >> 18 & 63];
    out += kAlphabet[triple >> 12 & 63];
    out += left == 2 ? kAlphabet[triple >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace airlock::proxy
