// `airlock proxy`: the proxy alone, for one session, beside its sandbox (docs/sidecar.md). It holds no
// root CA key and nothing of any other session:
//
//   start    a P-256 key for its own intermediate CA and an X25519 key for its snapshot, both only in
//            memory; POST .../sidecar/certificate (the intermediate, 24 h) and GET .../sidecar/snapshot
//            (its session, sealed to its key), with the session's proxy token. Failure: exit 1, saying why.
//   serve    the Proxy with the intermediate as its CA and the session as its snapshot, on the transparent
//            listeners (bound to the session) and the forward-proxy listener.
//   follow   every second: the snapshot again (a 401 means the session is archived or deleted: everything
//            is refused at once), audit rows up in batches; a control plane that has not answered for
//            --offline-grace makes the proxy refuse everything (503 proxy_offline) until it answers; a
//            new intermediate a third of its life before the old one ends.
//   stop     SIGTERM/SIGINT: the proxy drains, the audit still buffered is sent once more, exit 0.
#include <signal.h>
#include <time.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <sodium.h>

#include "airlock/certs/leaf.hpp"
#include "airlock/certs/root_ca.hpp"
#include "airlock/control/commands.hpp"
#include "airlock/proxy/proxy.hpp"
#include "daemon/config.hpp"
#include "daemon/log.hpp"
#include "daemon/no_core_dumps.hpp"
#include "dataplane/proxy_log.hpp"
#include "sidecar/audit_buffer.hpp"
#include "http/control_client.hpp"
#include "sidecar/egress_batch.hpp"
#include "sidecar/sealed_session.hpp"

namespace airlock::control {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kUsage =
    "usage: airlock proxy --control-url URL --session ID --token-file FILE\n"
    "                     [--transparent-listen IP:PORT]... [--proxy-listen HOST:PORT] [--offline-grace SECONDS]\n"
    "                     [--control-ca FILE] [--upstream-ca FILE]... [--resolve HOST:IP]... [--allow-private CIDR]...\n"
    "                     [--log-level debug|info|warn|error] [--ready-file FILE]\n"
    "  runs the egress proxy for one session beside its sandbox, fed by airlock serve at URL (http:// or https://).\n"
    "  FILE holds the session's proxy token. See docs/sidecar.md\n";
constexpr auto kPollEvery = std::chrono::seconds(1);
constexpr std::size_t kUploadBatch = 1000;
// The intermediate lives 24 hours; a new one is asked for when 8 are left.
constexpr auto kRenewBefore = std::chrono::hours(8);

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SidecarConfig {
  ControlUrl control;
  std::string session_id;
  fs::path token_file;
  std::vector<Endpoint> transparent_listen;
  Endpoint proxy_listen{"127.0.0.1", 8421};
  std::chrono::seconds offline_grace{300};
  std::optional<fs::path> control_ca;
  std::vector<fs::path> upstream_ca;
  std::map<std::string, std::string> resolve;
  std::vector<policies::Cidr> allow_private;
  LogLevel log_level = LogLevel::info;
  std::optional<fs::path> ready_file;
};

SidecarConfig parse_arguments(std::span<const std::string_view> args) {
  SidecarConfig config;
  bool have_url = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", flag));
      return args[++i];
    };
    if (flag == "--control-url") {
      const std::string_view text = value();
      auto url = ControlUrl::parse(text);
      if (!url) throw UsageError(fmt::format("--control-url: \"{}\" must be http://HOST[:PORT] or https://HOST[:PORT]", text));
      config.control = std::move(*url);
      have_url = true;
    } else if (flag == "--session") {
      config.session_id = std::string(value());
      if (!config.session_id.starts_with("sesn_")) throw UsageError("--session: expected a session id (sesn_...)");
    } else if (flag == "--token-file") {
      config.token_file = fs::path(value());
    } else if (flag == "--transparent-listen") {
      config.transparent_listen.push_back(parse_ip_endpoint(value(), "--transparent-listen"));
    } else if (flag == "--proxy-listen") {
      config.proxy_listen = parse_endpoint(value(), "--proxy-listen");
    } else if (flag == "--offline-grace") {
      const std::string_view text = value();
      long seconds = -1;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
      if (ec != std::errc{} || end != text.data() + text.size() || seconds < 0 || seconds > 7 * 86400) {
        throw UsageError("--offline-grace: expected seconds, 0 to 604800");
      }
      config.offline_grace = std::chrono::seconds(seconds);
    } else if (flag == "--control-ca") {
      config.control_ca = fs::path(value());
    } else if (flag == "--upstream-ca") {
      config.upstream_ca.emplace_back(value());
    } else if (flag == "--resolve") {
      config.resolve.insert(parse_resolve(value(), "--resolve"));
    } else if (flag == "--allow-private") {
      config.allow_private.push_back(parse_cidr(value(), "--allow-private"));
    } else if (flag == "--log-level") {
      config.log_level = parse_log_level(value(), "--log-level");
    } else if (flag == "--ready-file") {
      config.ready_file = fs::path(value());
    } else {
      throw UsageError(fmt::format("unknown argument \"{}\"", flag));
    }
  }
  if (!have_url || config.session_id.empty() || config.token_file.empty()) {
    throw UsageError("--control-url, --session and --token-file are required");
  }
  return config;
}

std::string read_token(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error(fmt::format("cannot read the token file {}", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) throw std::runtime_error(fmt::format("the token file {} is empty", file.string()));
  return token;
}

// The error message of a JSON error body, or the status alone.
std::string refusal_of(const ControlResponse& response) {
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object() && body["error"].contains("message") &&
      body["error"]["message"].is_string()) {
    return fmt::format("{} {}", response.status, body["error"]["message"].get<std::string>());
  }
  return fmt::format("status {}", response.status);
}

struct Intermediate {
  std::shared_ptr<const certs::RootCa> ca;
  std::chrono::system_clock::time_point not_after;
};

// A fresh key, and the control plane's intermediate CA for it.
Intermediate request_intermediate(ControlClient& client, const std::string& session_id) {
  auto key = certs::generate_p256_key();
  if (!key) throw std::runtime_error(key.error().message);
  certs::BioPtr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key->get()) != 1) throw std::runtime_error("cannot encode the sidecar's public key");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  const json body = {{"public_key_pem", std::string(data, static_cast<std::size_t>(size))}};
  const ControlResponse response =
      client.request("POST", fmt::format("/v1/sessions/{}/sidecar/certificate", session_id), body.dump());
  if (response.status != 200) throw std::runtime_error(fmt::format("the control plane refused a certificate: {}", refusal_of(response)));
  const json answer = json::parse(response.body, nullptr, false);
  if (!answer.is_object() || !answer.contains("certificate_pem") || !answer["certificate_pem"].is_string()) {
    throw std::runtime_error("the control plane's certificate answer has no certificate_pem");
  }
  auto der = certs::private_key_der(key->get());
  if (!der) throw std::runtime_error(der.error().message);
  auto ca = certs::RootCa::load(answer["certificate_pem"].get<std::string>(), der->bytes());
  if (!ca) throw std::runtime_error(fmt::format("the control plane's certificate: {}", ca.error().message));
  auto shared = std::make_shared<const certs::RootCa>(std::move(ca).value());
  return Intermediate{shared, shared->not_after()};
}

// What the control loop knows about its control plane.
class Follower {
 public:
  Follower(const SidecarConfig& config, ControlClient& client, proxy::SnapshotSlot& slot, AuditBuffer& audit, Logger& log)
      : config_(config), client_(client), slot_(slot), audit_(audit), log_(log), keys_(BoxKeyPair::generate()) {}

  // The session, sealed to this sidecar and opened. Throws ControlUnreachable, or std::runtime_error
  // for a refusal (401: the session is not active or the token is not its own).
  proxy::SessionEntry fetch_session() {
    const ControlResponse response = client_.request(
        "GET", fmt::format("/v1/sessions/{}/sidecar/snapshot?public_key={}", config_.session_id,
                           encode_public_key(keys_.public_key)));
    if (response.status == 401) throw SessionRevoked(refusal_of(response));
    if (response.status != 200) throw ControlUnreachable(fmt::format("snapshot: {}", refusal_of(response)));
    json answer = json::parse(response.body, nullptr, false);
    if (!answer.is_object() || !answer.contains("sealed") || !answer["sealed"].is_string()) {
      throw ControlUnreachable("snapshot: the answer has no sealed session");
    }
    return open_session(answer["sealed"].get_ref<const std::string&>(), keys_);
  }

  // Publishes the session as the proxy's snapshot.
  void publish(proxy::SessionEntry entry) {
    auto snapshot = std::make_shared<proxy::CredentialSnapshot>();
    snapshot->sessions.emplace(entry.session_id, std::move(entry));
    slot_.store(std::move(snapshot));
  }

  // One round: the snapshot, then the audit. Never throws.
  void poll() {
    const auto now = Clock::now();
    try {
      publish(fetch_session());
      last_answer_ = now;
      if (revoked_ || offline_) log_.info("the control plane answers again; serving session {}", config_.session_id);
      revoked_ = offline_ = false;
      failing_ = false;
    } catch (const SessionRevoked& e) {
      last_answer_ = now;
      if (!revoked_) {
        log_.warn("the control plane no longer authorizes session {} ({}): refusing everything", config_.session_id, e.what());
        slot_.store(std::make_shared<proxy::CredentialSnapshot>());
        revoked_ = true;
      }
    } catch (const std::exception& e) {
      if (!failing_) log_.warn("the control plane did not answer ({}); serving from the last snapshot", e.what());
      failing_ = true;
      if (!offline_ && now - last_answer_ >= config_.offline_grace) {
        offline_ = true;
        auto refuse = std::make_shared<proxy::CredentialSnapshot>();
        refuse->unavailable = fmt::format("the control plane {}:{} has not answered for {} s", client_.url().host,
                                          client_.url().port, config_.offline_grace.count());
        slot_.store(refuse);
        log_.error("{}: refusing everything until it answers", refuse->unavailable);
      }
    }
    upload();
  }

  // Sends what the audit holds, in batches; a batch that does not arrive goes back for the next round.
  void upload() {
    if (const auto dropped = audit_.dropped(); dropped > reported_drops_) {
      log_.error("{} audit record(s) dropped: the buffer was full while the control plane was away",
                 dropped - reported_drops_);
      reported_drops_ = dropped;
    }
    for (;;) {
      std::vector<proxy::EgressRecord> batch = audit_.take(kUploadBatch);
      if (batch.empty()) return;
      try {
        const ControlResponse response = client_.request(
            "POST", fmt::format("/v1/sessions/{}/sidecar/egress", config_.session_id), egress_batch(batch).dump());
        if (response.status == 200) continue;
        if (response.status == 401 || response.status == 400) {
          log_.error("the control plane refused {} audit record(s): {}", batch.size(), refusal_of(response));
          continue;  // they will never be taken: keeping them would block the rest
        }
        audit_.put_back(std::move(batch));
        return;
      } catch (const std::exception&) {
        audit_.put_back(std::move(batch));
        return;
      }
    }
  }

 private:
  class SessionRevoked : public std::runtime_error {
   public:
    using std::runtime_error::runtime_error;
  };

  const SidecarConfig& config_;
  ControlClient& client_;
  proxy::SnapshotSlot& slot_;
  AuditBuffer& audit_;
  Logger& log_;
  BoxKeyPair keys_;
  Clock::time_point last_answer_ = Clock::now();
  bool failing_ = false;
  bool offline_ = false;
  bool revoked_ = false;
  std::uint64_t reported_drops_ = 0;
};

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint) {
  return Endpoint{endpoint.address().to_string(), endpoint.port()}.to_string();
}

void write_ready_file(const fs::path& file, const proxy::Proxy& proxy) {
  json transparent = json::array();
  for (const auto& endpoint : proxy.transparent_endpoints()) transparent.push_back(endpoint_text(endpoint));
  const json ready = {{"proxy", endpoint_text(proxy.local_endpoint())}, {"transparent", std::move(transparent)}};
  const fs::path partial = file.string() + ".partial";
  std::ofstream(partial) << ready.dump() << "\n";
  fs::rename(partial, file);
}

int run(const SidecarConfig& config) {
  Logger log(config.log_level);
  if (const std::string failed = disable_core_dumps(); !failed.empty()) {
    log.warn("core dumps stay possible ({}): a core file of this process would hold the session's secrets", failed);
  }
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
  ControlClient client(config.control, read_token(config.token_file), config.control_ca, proxy::ProxyOptions{}.upstream_mark);
  proxy::SnapshotSlot slot;
  AuditBuffer audit;
  Follower follower(config, client, slot, audit, log);

  Intermediate intermediate = request_intermediate(client, config.session_id);
  follower.publish(follower.fetch_session());
  log.info("session {}: CA {} until {}", config.session_id, intermediate.ca->common_name(),
           store::format_time(intermediate.not_after));

  proxy::ProxyOptions options;
  options.listen_host = config.proxy_listen.host;
  options.listen_port = config.proxy_listen.port;
  for (const Endpoint& listener : config.transparent_listen) {
    options.transparent_listen.emplace_back(boost::asio::ip::make_address(listener.host), listener.port);
  }
  options.transparent_session = config.session_id;
  options.upstream_ca = config.upstream_ca;
  options.resolve = config.resolve;
  options.allow_private = config.allow_private;
  options.log_level = proxy_log_level(config.log_level);
  options.log = proxy_log(log);

  // SIGINT and SIGTERM are taken by the loop below (sigtimedwait); blocked before the proxy's threads start,
  // so none of them gets one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  proxy::Proxy proxy(std::move(options), intermediate.ca, slot, audit);
  proxy.start();
  log.info("airlock proxy: session {}, proxy {}, {} transparent listener(s), control plane {}:{}", config.session_id,
           endpoint_text(proxy.local_endpoint()), proxy.transparent_endpoints().size(), config.control.host,
           config.control.port);
  if (config.ready_file) write_ready_file(*config.ready_file, proxy);

  std::chrono::system_clock::time_point next_renewal{};
  for (;;) {
    const auto poll_seconds = std::chrono::duration_cast<std::chrono::seconds>(kPollEvery).count();
    const timespec wait{static_cast<time_t>(poll_seconds), 0};
    if (const int signal = sigtimedwait(&stop_signals, nullptr, &wait); signal > 0) {
      log.info("received {}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    follower.poll();
    // A new intermediate a third of its life before the old one ends; after a failure, again a minute later.
    const auto now = std::chrono::system_clock::now();
    if (intermediate.not_after - now < kRenewBefore && now >= next_renewal) {
      try {
        intermediate = request_intermediate(client, config.session_id);
        proxy.replace_ca(intermediate.ca);
        log.info("renewed the sidecar CA: {} until {}", intermediate.ca->common_name(), store::format_time(intermediate.not_after));
      } catch (const std::exception& e) {
        next_renewal = now + std::chrono::minutes(1);
        log.warn("could not renew the sidecar CA (it ends {}): {}", store::format_time(intermediate.not_after), e.what());
      }
    }
  }
  proxy.stop();
  follower.upload();
  if (const std::size_t left = audit.size(); left > 0) {
    log.error("{} audit record(s) could not be delivered before stopping", left);
  }
  return 0;
}

}  // namespace

int proxy_command(std::span<const std::string_view> args) {
  for (const std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  SidecarConfig config;
  try {
    config = parse_arguments(args);
  } catch (const std::exception& e) {
    std::cerr << "airlock proxy: " << e.what() << "\n" << kUsage;
    return 2;
  }
  try {
    return run(config);
  } catch (const std::exception& e) {
    std::cerr << "airlock proxy: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace airlock::control
