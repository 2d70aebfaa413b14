// client_hello: the server name a TLS client asks for, read from its ClientHello before any handshake
// (the transparent listener decides where a connection goes from it). Pure: takes the bytes received so
// far and says whether they hold a whole ClientHello, need more, are not TLS, or are malformed.
//
// The ClientHello may be split across several TLS records (RFC 8446 §5.1 lets a handshake message span
// records; large post-quantum key shares make that common) and those across any number of TCP segments:
// the handshake message is reassembled from the record fragments. Nothing is copied out of the input
// except the reassembled message when it spans records.
//
// Bounds: a record fragment is 1..16384 bytes (RFC 8446 §5.1); the ClientHello is at most
// kMaxClientHelloBytes; lengths inside it must fit their enclosing structure exactly. The server_name
// extension must appear at most once and name at most one host_name (RFC 6066 §3); a ClientHello without
// it is complete with no name (clients send none for an IP address). The name is returned as sent: the
// caller validates it as a host.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace airlock::proxy {

// A ClientHello longer than this is refused (the largest real ones, with several post-quantum key
// shares, are a few KiB); it is also less than the proxy's input buffer, so the whole of it can be held.
inline constexpr std::size_t kMaxClientHelloBytes = 32 * 1024;

struct ClientHelloScan {
  enum class State { need_more, complete, not_tls, malformed };
  State state = State::need_more;
  std::optional<std::string> server_name;  // complete: the SNI host_name, when the client sent one
  std::string detail;                      // malformed: what was wrong, for the audit log
};

// `bytes`: everything the client has sent so far, from its first byte.
ClientHelloScan scan_client_hello(std::string_view bytes);

}  // namespace airlock::proxy
