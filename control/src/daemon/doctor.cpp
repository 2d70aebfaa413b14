// `airlock doctor`: is this machine and this configuration ready for `airlock serve`? One line per check,
// what is ready and what to do, and exit 0 when nothing needed is missing (docs/operations.md).
//
// It takes serve's flags and reads what serve would read, and writes nothing: a data dir, master key or
// CA that does not exist yet is reported as what the first start will create. Opening an existing store
// is the one exception to "reads": it is how the master key is proven to match, and it migrates the
// schema exactly as serve would.
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <date/tz.h>
#include <fmt/format.h>
#include <sodium.h>

#include "airlock/certs/openssl.hpp"
#include "airlock/control/commands.hpp"
#include "airlock/store/store.hpp"
#include "daemon/ca_files.hpp"
#include "daemon/config.hpp"
#include "runtime/session_cgroup.hpp"
#include "runtime/session_runtime.hpp"

namespace airlock::control {
namespace {

namespace fs = std::filesystem;

enum class Verdict { ok, warn, fail };

class Report {
 public:
  void say(Verdict verdict, std::string_view check, std::string_view detail) {
    static constexpr std::array<std::string_view, 3> kWords = {"ok  ", "warn", "FAIL"};
    std::cout << fmt::format("{}  {}: {}\n", kWords[static_cast<int>(verdict)], check, detail);
    if (verdict == Verdict::fail) ++failures_;
    if (verdict == Verdict::warn) ++warnings_;
    ++checks_;
  }
  int finish() const {
    std::cout << fmt::format("{} check{}: {} to fix, {} to look at\n", checks_, checks_ == 1 ? "" : "s", failures_, warnings_);
    return failures_ == 0 ? 0 : 1;
  }

 private:
  int checks_ = 0;
  int failures_ = 0;
  int warnings_ = 0;
};

// The day this binary was built ("Dec  6 2026"): a clock before it is certainly wrong.
date::sys_days build_day() {
  static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const std::string_view text = __DATE__;  // "Mmm dd yyyy", the day space-padded
  const std::size_t month = kMonths.find(text.substr(0, 3)) / 3 + 1;
  const int day = std::atoi(std::string(text.substr(4, 2)).c_str());  // NOLINT(cert-err34-c): a compiler's constant
  const int year = std::atoi(std::string(text.substr(7, 4)).c_str());  // NOLINT(cert-err34-c): a compiler's constant
  return date::sys_days(date::year(year) / date::month(static_cast<unsigned>(month)) / date::day(static_cast<unsigned>(day)));
}

void check_clock(Report& report) {
  const auto now = std::chrono::system_clock::now();
  const auto built = build_day();
  const std::string now_text = date::format("%FT%TZ", std::chrono::floor<std::chrono::seconds>(now));
  if (now < built - std::chrono::days(1)) {
    report.say(Verdict::fail, "clock",
               fmt::format("it reads {}, before this binary was built ({}): set the time (NTP) before serving; "
                           "schedules, certificates and audit times all follow it",
                           now_text, date::format("%F", built)));
  } else {
    report.say(Verdict::ok, "clock", now_text);
  }
}

void check_time_zones(Report& report) {
  try {
    const date::tzdb& db = date::get_tzdb();
    (void)date::locate_zone("Europe/Berlin");
    (void)date::locate_zone("America/New_York");
    // The system's zoneinfo files carry no version: "unknown" says nothing, so it is left out.
    const bool versioned = !db.version.empty() && db.version != "unknown";
    report.say(Verdict::ok, "time zones",
               fmt::format("tzdata {}({} zones)", versioned ? db.version + " " : "", db.zones.size()));
  } catch (const std::exception& e) {
    report.say(Verdict::fail, "time zones",
               fmt::format("the IANA time zone database cannot be read ({}): install tzdata; deployments need it", e.what()));
  }
}

// Whether the data dir can be used: created by the first start if absent, else a directory this user
// owns and can write, which serve tightens to 0700 (0710 with sandboxes as root).
bool check_data_dir(Report& report, const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    const fs::path parent = fs::absolute(dir).parent_path();
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
      report.say(Verdict::fail, "data dir",
                 fmt::format("{} does not exist and {} is not writable: create it, or choose another --data-dir", dir.string(),
                             parent.string()));
    } else {
      report.say(Verdict::ok, "data dir", fmt::format("{} will be created at the first start", dir.string()));
    }
    return false;
  }
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    report.say(Verdict::fail, "data dir", fmt::format("{} is not a directory", dir.string()));
    return false;
  }
  if (info.st_uid != ::geteuid()) {
    report.say(Verdict::fail, "data dir",
               fmt::format("{} belongs to uid {}, not to this user ({}): run as its owner, or chown it", dir.string(),
                           info.st_uid, ::geteuid()));
    return false;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    report.say(Verdict::fail, "data dir", fmt::format("{} is not writable by this user", dir.string()));
    return false;
  }
  const auto mode = static_cast<unsigned>(info.st_mode & 07777);
  if ((mode & 0007) != 0) {
    report.say(Verdict::warn, "data dir",
               fmt::format("{} is mode {:04o}: others can reach it until serve tightens it to 0700 at its start",
                           dir.string(), mode));
  } else {
    report.say(Verdict::ok, "data dir", fmt::format("{} (mode {:04o}, yours)", dir.string(), mode));
  }
  return true;
}

// The master key and the store: both absent is a first start; a store without its key is a lost key.
std::unique_ptr<store::Store> check_master_key(Report& report, const fs::path& dir, bool dir_exists) {
  const char* env = std::getenv("AIRLOCK_MASTER_KEY");  // NOLINT(concurrency-mt-unsafe): one thread here
  const std::string env_value = env != nullptr ? env : "";
  const fs::path key_file = dir / "master.key";
  const fs::path db_file = dir / "airlock.db";
  std::error_code ec;
  const bool have_db = dir_exists && fs::exists(db_file, ec);
  if (env_value.empty() && !(dir_exists && fs::exists(key_file, ec))) {
    if (have_db) {
      report.say(Verdict::fail, "master key",
                 fmt::format("{} holds a store but {} is missing: restore the key file, or set AIRLOCK_MASTER_KEY; "
                             "without the key no secret in it can be unsealed",
                             db_file.string(), key_file.string()));
    } else {
      report.say(Verdict::ok, "master key", fmt::format("{} will be generated at the first start", key_file.string()));
    }
    return nullptr;
  }
  try {
    store::MasterKey master = store::load_master_key(dir, env_value);
    if (!have_db) {
      report.say(Verdict::ok, "master key", fmt::format("{} is well formed; the store will be created at the first start",
                                                        master.source));
      return nullptr;
    }
    const std::string source = master.source;
    auto opened = store::Store::open({.path = db_file, .master_key = std::move(master.key), .master_key_source = source});
    report.say(Verdict::ok, "master key", fmt::format("{} opens {}", source, db_file.string()));
    return opened;
  } catch (const std::exception& e) {
    report.say(Verdict::fail, "master key", e.what());
    return nullptr;
  }
}

void check_ca(Report& report, const fs::path& dir, store::Store* store) {
  std::error_code ec;
  if (!fs::exists(dir / "ca.pem", ec)) {
    report.say(Verdict::ok, "CA", fmt::format("{} will be created at the first start", (dir / "ca.pem").string()));
    return;
  }
  if (store == nullptr) {
    report.say(Verdict::warn, "CA", "not checked: the master key does not open the store (above)");
    return;
  }
  try {
    const CaFiles files = load_or_create_ca(dir, *store);
    const auto left = std::chrono::floor<std::chrono::days>(files.ca->not_after() - std::chrono::system_clock::now());
    const std::string until = date::format("%F", std::chrono::floor<std::chrono::days>(files.ca->not_after()));
    if (left.count() < 0) {
      report.say(Verdict::fail, "CA",
                 fmt::format("{} expired on {}: sandboxes reject every leaf it signs; move ca.pem and ca.key.sealed "
                             "away so the next start makes a new CA, and hand sandboxes the new bundle",
                             files.certificate_path.string(), until));
    } else if (left.count() < 30) {
      report.say(Verdict::warn, "CA", fmt::format("{} expires in {} days ({})", files.certificate_path.string(), left.count(), until));
    } else {
      report.say(Verdict::ok, "CA", fmt::format("{} is valid for {} more days (until {})", files.certificate_path.string(),
                                                left.count(), until));
    }
  } catch (const std::exception& e) {
    report.say(Verdict::fail, "CA", e.what());
  }
}

void check_upstream_trust(Report& report, const Config& config) {
  certs::SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context || SSL_CTX_set_default_verify_paths(context.get()) != 1) {
    report.say(Verdict::fail, "upstream trust", "the system's trusted CAs cannot be loaded: install ca-certificates");
    return;
  }
  for (const std::string& file : config.upstream_ca) {
    if (SSL_CTX_load_verify_locations(context.get(), file.c_str(), nullptr) != 1) {
      report.say(Verdict::fail, "upstream trust",
                 fmt::format("{} (proxy.upstream_ca or --upstream-ca) is not a readable PEM certificate file", file));
      return;
    }
  }
  const int objects = sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(context.get())));
  report.say(Verdict::ok, "upstream trust",
             fmt::format("the system's CAs{} load ({} certificates in memory; the system directory loads on demand)",
                         config.upstream_ca.empty() ? "" : fmt::format(" and {} extra file(s)", config.upstream_ca.size()),
                         objects));
}

void check_port(Report& report, std::string_view what, const Endpoint& endpoint, std::string_view flag) {
  if (endpoint.port == 0) {
    report.say(Verdict::ok, what, fmt::format("{}: the kernel picks a free port", endpoint.to_string()));
    return;
  }
  boost::asio::io_context io;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    report.say(Verdict::fail, what, fmt::format("\"{}\" is not an IP address; give a numeric one ({})", endpoint.host, flag));
    return;
  }
  boost::asio::ip::tcp::acceptor acceptor(io);
  const boost::asio::ip::tcp::endpoint local(address, endpoint.port);
  acceptor.open(local.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(local, ec);
  if (ec == boost::asio::error::address_in_use) {
    report.say(Verdict::fail, what,
               fmt::format("{} is in use: another process listens there (airlock serve already running?); stop it or "
                           "choose another with {}",
                           endpoint.to_string(), flag));
  } else if (ec) {
    report.say(Verdict::fail, what, fmt::format("cannot listen on {}: {}", endpoint.to_string(), ec.message()));
  } else {
    report.say(Verdict::ok, what, fmt::format("{} is free", endpoint.to_string()));
  }
}

bool on_path(std::string_view program) {
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe): one thread here
  std::string_view rest = path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  while (!rest.empty()) {
    const std::size_t colon = rest.find(':');
    const fs::path candidate = fs::path(rest.substr(0, colon)) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
  }
  return false;
}

void check_sandboxes(Report& report, const Config& config) {
  const RuntimeConfig& runtime = config.runtime;
  if (runtime.harnesses.empty()) {
    report.say(Verdict::ok, "sandboxes", "no runtime.harnesses configured: sessions run nothing here, bubblewrap is not needed");
    return;
  }
  SandboxProbe probe;
  probe.bwrap = runtime.bwrap;
  if (auto problem = probe_sandbox(probe)) {
    report.say(Verdict::fail, "sandboxes",
               fmt::format("bubblewrap ({}) cannot create a sandbox: {}; see docs/runtime.md, Requirements", runtime.bwrap,
                           *problem));
  } else {
    report.say(Verdict::ok, "sandboxes", fmt::format("bubblewrap ({}) creates a sandbox", runtime.bwrap));
  }
  if (!runtime.limits) {
    report.say(Verdict::warn, "limits", "runtime.limits is none: one harness can take the machine's memory, processes and CPU");
    return;
  }
  const CgroupHost host = CgroupHost::detect();
  if (host.usable()) {
    report.say(Verdict::ok, "limits", host.describe());
  } else {
    report.say(Verdict::fail, "limits",
               fmt::format("{}; or set runtime.limits: none to run sessions without limits", host.problem()));
  }
  if (runtime.limits->workspace_bytes > 0) {
    std::error_code ec;
    if (::geteuid() != 0 || !fs::exists("/dev/loop-control", ec)) {
      report.say(Verdict::fail, "workspace limit",
                 "runtime.limits.workspace_bytes needs root and loop devices (/dev/loop-control); run as root, or set "
                 "workspace_bytes: none");
    } else if (!on_path("mke2fs")) {
      report.say(Verdict::fail, "workspace limit", "mke2fs is not on PATH: install e2fsprogs");
    } else {
      report.say(Verdict::ok, "workspace limit", fmt::format("{} bytes per session, on loop devices", runtime.limits->workspace_bytes));
    }
  }
}

}  // namespace

int doctor_command(std::span<const std::string_view> args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: airlock doctor [the flags of airlock serve]\n"
                 "Checks what airlock serve needs, one line each, and exits 0 when nothing needed is missing.\n";
    return 0;
  }
  if (sodium_init() < 0) {
    std::cerr << "airlock: libsodium failed to initialise\n";
    return 1;
  }
  Report report;
  const char* key_env = std::getenv("AIRLOCK_API_KEY");  // NOLINT(concurrency-mt-unsafe): one thread here
  Config config;
  try {
    config = load_config(args, key_env != nullptr ? key_env : "");
  } catch (const ConfigError& e) {
    report.say(Verdict::fail, "config", e.what());
    return report.finish();
  }
  report.say(Verdict::ok, "config", config.config_file ? config.config_file->string() : "embedded defaults (no --config)");
  check_clock(report);
  check_time_zones(report);
  const bool dir_exists = check_data_dir(report, config.data_dir);
  const std::unique_ptr<store::Store> store = check_master_key(report, config.data_dir, dir_exists);
  check_ca(report, config.data_dir, store.get());
  check_upstream_trust(report, config);
  check_port(report, "API listener", config.api_listen, "--api-listen");
  check_port(report, "proxy listener", config.proxy_listen, "--proxy-listen");
  if (config.metrics_listen) check_port(report, "metrics listener", *config.metrics_listen, "--metrics-listen");
  check_sandboxes(report, config);
  return report.finish();
}

}  // namespace airlock::control
