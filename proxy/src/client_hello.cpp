// client_hello (see client_hello.hpp): record reassembly, then the ClientHello's fields in order
// (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) down to the server_name extension (RFC 6066 §3).
#include "client_hello.hpp"

#include <cstdint>

namespace airlock::proxy {

namespace {

constexpr unsigned char kHandshakeRecord = 22;
constexpr unsigned char kClientHello = 1;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kMaxFragment = 16384;
constexpr std::uint16_t kServerNameExtension = 0;
constexpr unsigned char kHostName = 0;

ClientHelloScan malformed(std::string detail) {
  return ClientHelloScan{ClientHelloScan::State::malformed, std::nullopt, std::move(detail)};
}

// Big-endian fields over a bounded view; every read checks what is left.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool empty() const noexcept { return bytes_.empty(); }
  bool skip(std::size_t n) {
    if (bytes_.size() < n) return false;
    bytes_.remove_prefix(n);
    return true;
  }
  bool number(std::size_t width, std::size_t& out) {
    if (bytes_.size() < width) return false;
    out = 0;
    for (std::size_t i = 0; i < width; ++i) out = (out << 8) | static_cast<unsigned char>(bytes_[i]);
    bytes_.remove_prefix(width);
    return true;
  }
  // A vector with a `width`-byte length prefix: its contents.
  bool vector(std::size_t width, std::string_view& out) {
    std::size_t length = 0;
    if (!number(width, length) || bytes_.size() < length) return false;
    out = bytes_.substr(0, length);
    bytes_.remove_prefix(length);
    return true;
  }

 private:
  std::string_view bytes_;
};

// The server_name extension's body: a ServerNameList with one host_name.
bool read_server_name(std::string_view body, std::optional<std::string>& name, std::string& detail) {
  Reader reader(body);
  std::string_view list;
  if (!reader.vector(2, list) || !reader.empty() || list.empty()) {
    detail = "the server_name extension is malformed";
    return false;
  }
  Reader entries(list);
  while (!entries.empty()) {
    std::size_t type = 0;
    std::string_view host;
    if (!entries.number(1, type) || !entries.vector(2, host)) {
      detail = "the server_name list is malformed";
      return false;
    }
    if (type != kHostName) continue;  // other name types are unknown; skip them
    if (name || host.empty()) {
      detail = name ? "the server_name list names more than one host" : "the server_name host is empty";
      return false;
    }
    name.emplace(host);
  }
  return true;
}

ClientHelloScan parse_body(std::string_view body) {
  Reader reader(body);
  std::string_view session_id, ciphers, compression;
  if (!reader.skip(2 + 32) || !reader.vector(1, session_id) || session_id.size() > 32 || !reader.vector(2, ciphers) ||
      ciphers.empty() || ciphers.size() % 2 != 0 || !reader.vector(1, compression) || compression.empty()) {
    return malformed("the ClientHello's fixed fields are malformed");
  }
  ClientHelloScan out{ClientHelloScan::State::complete, std::nullopt, {}};
  if (reader.empty()) return out;  // no extensions (before TLS 1.2, allowed)
  std::string_view extensions;
  if (!reader.vector(2, extensions) || !reader.empty()) return malformed("the ClientHello's extensions are malformed");
  Reader each(extensions);
  bool seen_server_name = false;
  while (!each.empty()) {
    std::size_t type = 0;
    std::string_view data;
    if (!each.number(2, type) || !each.vector(2, data)) return malformed("an extension's length runs past the ClientHello");
    if (type != kServerNameExtension) continue;
    if (seen_server_name) return malformed("the server_name extension appears twice");
    seen_server_name = true;
    if (!read_server_name(data, out.server_name, out.detail)) return malformed(std::move(out.detail));
  }
  return out;
}

}  // namespace

ClientHelloScan scan_client_hello(std::string_view bytes) {
  if (bytes.empty()) return {};
  if (static_cast<unsigned char>(bytes[0]) != kHandshakeRecord) return {ClientHelloScan::State::not_tls, std::nullopt, {}};

  // Reassemble the handshake message from the records' fragments. The common case (the whole message in
  // the first record) needs no copy.
  std::string joined;
  std::string_view message;
  std::size_t offset = 0;
  for (;;) {
    if (bytes.size() - offset < kRecordHeader) return {};
    const auto* header = reinterpret_cast<const unsigned char*>(bytes.data() + offset);
    if (header[0] != kHandshakeRecord) return malformed("a record inside the ClientHello is not a handshake record");
    if (header[1] != 3) return malformed("the record's protocol version is not TLS");
    const std::size_t length = (std::size_t{header[3]} << 8) | header[4];
    if (length == 0 || length > kMaxFragment) return malformed("a record's length is out of range");
    if (bytes.size() - offset - kRecordHeader < length) return {};
    const std::string_view fragment = bytes.substr(offset + kRecordHeader, length);
    offset += kRecordHeader + length;
    if (message.empty() && joined.empty()) {
      message = fragment;
    } else {
      if (joined.empty()) joined.assign(message);
      joined.append(fragment);
      message = joined;
    }
    if (message.size() < 4) continue;
    if (static_cast<unsigned char>(message[0]) != kClientHello) return malformed("the first handshake message is not a ClientHello");
    const std::size_t body_length = (std::size_t{static_cast<unsigned char>(message[1])} << 16) |
                                    (std::size_t{static_cast<unsigned char>(message[2])} << 8) |
                                    static_cast<unsigned char>(message[3]);
    if (body_length > kMaxClientHelloBytes) return malformed("the ClientHello is longer than 32 KiB");
    if (message.size() - 4 < body_length) continue;
    // Bytes past the ClientHello in its last record belong to later messages; a client sends none before
    // the server answers, and they do not change the name.
    return parse_body(message.substr(4, body_length));
  }
}

}  // namespace airlock::proxy
