// Fuzz target client_hello: scan_client_hello (proxy/src/client_hello.hpp), which reads the server name
// from the first bytes a transparent connection sends, before any handshake.
//
// Input: the bytes a client sent, from its first byte.
//
// Checks (a violation aborts):
//   - a verdict, once given, does not change as more bytes arrive: the scan of any prefix is need_more or
//     the scan of the whole input (state, name and detail);
//   - a malformed verdict says why; only complete carries a name, and never an empty one;
//   - a complete ClientHello cut into other records (of 1 to 64 bytes, then one each) gives the same
//     verdict and name: reassembly does not depend on how the client fragmented its message;
//   - the name, validated as a host (certs::validate_host, as the transparent listener does), is refused or
//     accepted without trouble.
#include <string>

#include "airlock/certs/host.hpp"
#include "client_hello.hpp"
#include "fuzz_support.hpp"

namespace airlock::fuzz {
namespace {

using proxy::ClientHelloScan;

bool same(const ClientHelloScan& a, const ClientHelloScan& b) {
  return a.state == b.state && a.server_name == b.server_name && a.detail == b.detail;
}

// The ClientHello message (handshake header and body) reassembled from the records at the front of
// `bytes`, the way a TLS stack would; empty if those records do not hold all of it.
std::string client_hello_message(std::string_view bytes) {
  std::string message;
  std::size_t wanted = 4;
  for (std::size_t at = 0; message.size() < wanted && bytes.size() - at >= 5;) {
    const std::size_t length = (std::size_t{static_cast<unsigned char>(bytes[at + 3])} << 8) |
                               static_cast<unsigned char>(bytes[at + 4]);
    if (bytes.size() - at - 5 < length) break;
    message.append(bytes.substr(at + 5, length));
    at += 5 + length;
    if (message.size() >= 4) {
      wanted = 4 + ((std::size_t{static_cast<unsigned char>(message[1])} << 16) |
                    (std::size_t{static_cast<unsigned char>(message[2])} << 8) | static_cast<unsigned char>(message[3]));
    }
  }
  if (message.size() < wanted) return {};
  message.resize(wanted);
  return message;
}

// `message` cut into handshake records of `size` bytes (the last one shorter).
std::string records_of(std::string_view message, std::size_t size) {
  std::string out;
  for (std::size_t at = 0; at < message.size(); at += size) {
    const std::string_view piece = message.substr(at, size);
    out += std::string{'\x16', '\x03', '\x01', static_cast<char>(piece.size() >> 8), static_cast<char>(piece.size() & 0xff)};
    out += piece;
  }
  return out;
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view bytes = as_text(data, size);
  const ClientHelloScan whole = proxy::scan_client_hello(bytes);
  AIRLOCK_FUZZ_CHECK((whole.state == ClientHelloScan::State::malformed) == !whole.detail.empty());
  if (whole.server_name) {
    AIRLOCK_FUZZ_CHECK(whole.state == ClientHelloScan::State::complete && !whole.server_name->empty());
    (void)certs::validate_host(*whole.server_name);
  }

  // Every prefix for short inputs, else a handful chosen from the input.
  Random random(hash_of(bytes));
  const std::size_t cuts = size <= 512 ? size : 64;
  for (std::size_t i = 0; i < cuts; ++i) {
    const std::size_t cut = size <= 512 ? i : random.below(size);
    const ClientHelloScan prefix = proxy::scan_client_hello(bytes.substr(0, cut));
    AIRLOCK_FUZZ_CHECK(prefix.state == ClientHelloScan::State::need_more || same(prefix, whole));
  }

  if (whole.state == ClientHelloScan::State::complete) {
    const std::string hello = client_hello_message(bytes);
    AIRLOCK_FUZZ_CHECK(!hello.empty());
    for (const std::size_t record_size : {1 + random.below(64), std::size_t{1}}) {
      const ClientHelloScan again = proxy::scan_client_hello(records_of(hello, record_size));
      AIRLOCK_FUZZ_CHECK(again.state == ClientHelloScan::State::complete && again.server_name == whole.server_name);
    }
  }
  return 0;
}
