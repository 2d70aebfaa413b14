// `airlock serve`: the composition root. Builds the owners in dependency order (config, data dir, master
// key, store, API keys, listeners, API), runs the control io_context, and shuts down in three steps on
// SIGINT/SIGTERM: stop accepting, let in-flight exchanges finish (at most 5 s), stop.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>

#include <boost/asio.hpp>
#include <sodium.h>

#include "airlock/control/commands.hpp"
#include "airlock/policies/policy.hpp"
#include "airlock/store/store.hpp"
#include "airlock/proxy/proxy.hpp"
#include "http/api_server.hpp"
#include "dataplane/audit_writer.hpp"
#include "daemon/ca_files.hpp"
#include "daemon/config.hpp"
#include "http/control_api.hpp"
#include "http/deadline.hpp"
#include "metrics/daemon_metrics.hpp"
#include "sessions/event_hub.hpp"
#include "daemon/log.hpp"
#include "daemon/no_core_dumps.hpp"
#include "dataplane/proxy_log.hpp"
#include "runtime/sandbox_identity.hpp"
#include "deployments/scheduler.hpp"
#include "runtime/session_runtime.hpp"
#include "dataplane/snapshot_publisher.hpp"
#include "dataplane/network_policies.hpp"
#include "api/resources.hpp"
#include "runtime/workspace_mount.hpp"
#include "sidecar/sidecar_api.hpp"

namespace airlock::control {
namespace {

using asio::ip::tcp;
namespace fs = std::filesystem;

constexpr std::chrono::seconds kDrainLimit{5};
constexpr std::chrono::hours kIdempotencyPurgeEvery{1};

class StartupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `sandbox_group`: the group of local sandboxes that run as their own uids (SECURITY.md N6). It may traverse
// the data dir (0710) to reach what bubblewrap mounts for them; every file in it is 0600 or public.
void prepare_data_dir(const fs::path& dir, std::optional<gid_t> sandbox_group) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw StartupError(fmt::format("cannot create the data dir {}: {}", dir.string(), ec.message()));
  if (sandbox_group && ::chown(dir.c_str(), static_cast<uid_t>(-1), *sandbox_group) != 0) {
    throw StartupError(fmt::format("cannot give the data dir {} the sandboxes' group {}: {}", dir.string(), *sandbox_group,
                                   std::generic_category().message(errno)));
  }
  // An existing data dir is tightened, never refused: it holds the master key and the database.
  const fs::perms mode = sandbox_group ? fs::perms::owner_all | fs::perms::group_exec : fs::perms::owner_all;
  fs::permissions(dir, mode, fs::perm_options::replace, ec);
  if (ec) {
    throw StartupError(fmt::format("cannot set mode {} on the data dir {}: {}", sandbox_group ? "0710" : "0700", dir.string(),
                                   ec.message()));
  }
}

// N6: sandboxes must run as ids nobody else on this machine has (a user with one of them would own the
// sandboxes' workspaces and could reach the proxy socket).
void check_sandbox_ids(const RuntimeConfig& runtime) {
  const std::uint32_t first = runtime.sandbox_uid_base;
  const std::uint32_t last = first + static_cast<std::uint32_t>(runtime.max_concurrent_sessions);
  std::vector<std::string> conflicts = sandbox_id_conflicts(first, last);
  if (conflicts.empty()) return;
  std::string listed;
  for (const std::string& conflict : conflicts) listed += fmt::format("{}{}", listed.empty() ? "" : "; ", conflict);
  throw StartupError(fmt::format("runtime.sandbox_uid_base: sandboxes run as the ids {} to {}, but this machine already uses "
                                 "some: {}. Choose a base whose range nobody uses",
                                 first, last, listed));
}

std::string read_trimmed(const fs::path& file) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

// The generated API key: DATA_DIR/admin.key (0600), created on the first start without configured keys.
std::string admin_key(const fs::path& data_dir, Logger& log) {
  fs::path file = data_dir / "admin.key";
  if (fs::exists(file)) {
    std::string key = read_trimmed(file);
    if (key.empty()) throw StartupError(fmt::format("{} is empty; delete it to generate a new key", file.string()));
    return key;
  }
  std::string key = store::random_id("ak_");
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw StartupError(fmt::format("cannot create {}: {}", file.string(), std::generic_category().message(errno)));
  }
  std::string line = key + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw StartupError(fmt::format("cannot write {}", file.string()));
  log.info("generated an API key in {} (send it as Authorization: Bearer <key> or x-api-key: <key>)", file.string());
  return key;
}

tcp::acceptor listen_on(asio::io_context& io, const Endpoint& endpoint, std::string_view what) {
  error_code ec;
  asio::ip::address address = asio::ip::make_address(endpoint.host, ec);
  if (ec) {
    throw StartupError(fmt::format("{}: \"{}\" is not an IP address; give a numeric address such as 127.0.0.1", what,
                                   endpoint.host));
  }
  tcp::endpoint local(address, endpoint.port);
  tcp::acceptor acceptor(io);
  acceptor.open(local.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(local, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) return acceptor;
  throw StartupError(fmt::format("cannot listen on {} for the {}: {}", endpoint.to_string(), what, ec.message()));
}

std::string bound(const tcp::acceptor& acceptor) {
  tcp::endpoint local = acceptor.local_endpoint();
  return Endpoint{local.address().to_string(), local.port()}.to_string();
}

void write_ready_file(const fs::path& file, const std::string& api, const std::string& proxy,
                      const std::optional<std::string>& metrics) {
  json ready = {{"api", api}, {"proxy", proxy}, {"pid", ::getpid()}};
  if (metrics) ready["metrics"] = *metrics;
  fs::path temporary = file;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << ready.dump() << "\n";
    if (!out) throw StartupError(fmt::format("cannot write the ready file {}", temporary.string()));
  }
  std::error_code ec;
  fs::rename(temporary, file, ec);  // readers see the whole file or none
  if (ec) throw StartupError(fmt::format("cannot write the ready file {}: {}", file.string(), ec.message()));
}

asio::awaitable<void> purge_idempotency_records(store::Store& store, Logger& log) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (auto purged = store.purge_idempotent(); !purged) log.warn("idempotency purge failed: {}", purged.error().message());
    timer.expires_after(kIdempotencyPurgeEvery);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

// Each proxy connection may hold a client socket, an upstream socket and a pooled one; raise the soft limit
// on open files to what proxy.max_connections needs, and say so when the hard limit does not allow it.
void raise_open_file_limit(const Config& config, Logger& log) {
  if (config.max_connections == 0) return;
  const rlim_t needed = static_cast<rlim_t>(config.max_connections) * 2 + 1024;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) return;
  const rlim_t wanted = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
  if (wanted > limit.rlim_cur) {
    rlimit raised{wanted, limit.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = wanted;
  }
  if (limit.rlim_cur < needed) {
    log.warn("open file limit {} is below the {} that proxy.max_connections={} needs; raise the hard limit (ulimit -Hn, "
             "systemd LimitNOFILE=) or lower proxy.max_connections, or connections will fail when descriptors run out",
             limit.rlim_cur, needed, config.max_connections);
  }
}

// The network policies, loaded now: a file that does not load stops the daemon, naming its line.
NetworkPolicies load_network_policies(const Config& config) {
  try {
    return NetworkPolicies({.file = config.policy_file,
                            .default_policy = config.default_policy,
                            .allow_private = config.allow_private});
  } catch (const std::runtime_error& e) {
    throw StartupError(e.what());
  }
}

void log_policies(Logger& log, const policies::PolicySet& set, std::string_view what) {
  std::string names;
  for (const policies::Policy& policy : set.policies) names += (names.empty() ? "" : ",") + policy.name;
  log.info("network policies {} from {}: {} (default_policy={})", what, set.source, names,
           set.default_policy.empty() ? "none" : set.default_policy);
}

proxy::ProxyOptions proxy_options(const Config& config, const tcp::endpoint& api, const std::optional<tcp::endpoint>& metrics,
                                  std::optional<std::uint32_t> sandbox_uid_base, Logger& log) {
  proxy::ProxyOptions options;
  options.own_listeners.push_back({api.address(), api.port(), "API"});  // N1: never reachable through the proxy
  if (metrics) options.own_listeners.push_back({metrics->address(), metrics->port(), "metrics"});
  options.unix_socket = fs::absolute(config.data_dir) / "proxy.sock";  // what sandbox relays connect to
  if (sandbox_uid_base) options.unix_socket_group = sandbox_group(*sandbox_uid_base);
  options.listen_host = config.proxy_listen.host;
  options.listen_port = config.proxy_listen.port;
  for (const Endpoint& listener : config.transparent_listen) {
    options.transparent_listen.emplace_back(asio::ip::make_address(listener.host), listener.port);  // checked by config
  }
  options.upstream_mark = config.upstream_mark;
  for (const std::string& file : config.upstream_ca) options.upstream_ca.emplace_back(file);
  options.resolve = config.resolve;
  for (const policies::AllowedRange& range : config.allow_private) options.allow_private.push_back(range.cidr);
  options.max_connections = config.max_connections;
  options.max_connections_per_session = config.max_connections_per_session;
  options.max_connections_per_source = config.max_connections_per_source;
  options.max_requests_per_second_per_session = static_cast<double>(config.max_requests_per_second_per_session);
  options.placeholder_violation_passthrough = config.placeholder_violation == "passthrough";
  options.passthrough_hosts = config.passthrough_hosts;
  options.allow_plaintext_substitution = config.allow_plaintext_substitution;
  options.metrics_host_labels = config.metrics_host_labels;
  options.max_header_bytes = config.max_header_bytes;
  options.max_decoded_body_bytes = config.max_decoded_body_bytes;
  options.timeouts = config.proxy_timeouts;
  options.log_level = proxy_log_level(config.log_level);
  options.log = proxy_log(log);
  return options;
}

std::vector<proxy::SourceRoute> source_routes(const std::vector<TransparentSession>& sessions) {
  std::vector<proxy::SourceRoute> routes;
  routes.reserve(sessions.size());
  for (const TransparentSession& session : sessions) routes.push_back({session.source, session.session_id});
  return routes;
}

// Where sessions' cgroups go: detected once, when sessions may run here and runtime.limits is not none.
// Said once at start when they cannot be set up (each session that would start says it again).
std::shared_ptr<const CgroupHost> session_cgroups(const Config& config, Logger& log) {
  if (config.runtime.harnesses.empty()) return nullptr;
  if (!config.runtime.limits) {
    log.warn("runtime.limits is none: sessions run without memory, process or CPU limits, and one harness can starve "
             "the machine");
    return nullptr;
  }
  auto host = std::make_shared<const CgroupHost>(CgroupHost::detect());
  if (host->usable()) {
    log.info("runtime: sessions run in cgroups ({}) with {} bytes of memory, {} processes and {} CPU unless their harness "
             "says otherwise",
             host->describe(), config.runtime.limits->memory_bytes, config.runtime.limits->pids, config.runtime.limits->cpus);
  } else {
    log.error("runtime: sessions cannot be given their limits: {}; sessions placed in a local sandbox will not start",
              host->problem());
  }
  return host;
}

RuntimeSettings runtime_settings(const Config& config, const CaFiles& ca, std::optional<std::uint32_t> sandbox_uid_base,
                                 std::shared_ptr<const CgroupHost> cgroups) {
  RuntimeSettings settings;
  settings.cgroups = std::move(cgroups);
  settings.config = config.runtime;
  settings.sandbox_uid_base = sandbox_uid_base;
  settings.data_dir = fs::absolute(config.data_dir);
  settings.proxy_socket = settings.data_dir / "proxy.sock";
  settings.ca_bundle = fs::absolute(ca.bundle_path);
  settings.trust_store = fs::absolute(ca.trust_store_path);
  std::error_code ec;
  settings.airlock_binary = fs::read_symlink("/proc/self/exe", ec);
  // No path of Airlock's own may show in a sandbox, even under a mounted directory.
  settings.hidden_paths.push_back({fs::weakly_canonical(settings.data_dir, ec), true});
  if (config.config_file) settings.hidden_paths.push_back({fs::weakly_canonical(fs::absolute(*config.config_file), ec), false});
  return settings;
}

int run(const Config& config, Logger& log) {
  // N6: run by root, bubblewrap would map a sandbox's uid to root; sandboxes get unprivileged ids instead.
  const std::optional<std::uint32_t> sandbox_uid_base =
      config.runtime.harnesses.empty() ? std::nullopt : sandbox_uid_base_for(::geteuid(), config.runtime.sandbox_uid_base);
  if (sandbox_uid_base) check_sandbox_ids(config.runtime);
  prepare_data_dir(config.data_dir, sandbox_uid_base ? std::optional<gid_t>(sandbox_group(*sandbox_uid_base)) : std::nullopt);
  if (::geteuid() == 0) {
    // Workspace mounts of sandboxes that died with a previous process: gone before any session dir is removed.
    if (std::size_t left = unmount_all_under(fs::absolute(config.data_dir) / "sessions"); left > 0) {
      log.info("unmounted {} workspace mount(s) a previous run left behind", left);
    }
  }
  const auto started = std::chrono::system_clock::now();
  raise_open_file_limit(config, log);
  const char* master_env = std::getenv("AIRLOCK_MASTER_KEY");
  store::MasterKey master = store::load_master_key(config.data_dir, master_env ? master_env : "");
  if (master.created) log.info("generated a master key in {} (keep a copy: without it no secret can be unsealed)", master.source);
  TestSeams seams = test_seams_from_environment(log);  // off unless AIRLOCK_*_FOR_TEST is set (then logged loudly)
  auto store = store::Store::open(
      {.path = config.data_dir / "airlock.db", .master_key = std::move(master.key), .clock = seams.clock, .master_key_source = master.source});
  CaFiles ca = load_or_create_ca(config.data_dir, *store);
  if (ca.created) log.info("created the root CA {} (sandboxes trust it through {})", ca.certificate_path.string(), ca.bundle_path.string());

  std::vector<std::string> keys = config.api_keys;
  if (keys.empty()) keys.push_back(admin_key(config.data_dir, log));

  EventHub events;  // wakes the session event streams; outlives io, whose coroutines hold subscriptions
  asio::io_context io(1);

  // Sessions placed in a local sandbox start on io once it runs (after the proxy's Unix socket is bound).
  SessionRuntime runtime(io.get_executor(), *store,
                         runtime_settings(config, ca, sandbox_uid_base, session_cgroups(config, log)), log);
  runtime.on_events_appended([&events](const std::string& session_id) { events.notify(session_id); });
  if (!config.runtime.harnesses.empty()) {
    // Said once at start, not only in every session's stderr: the machine cannot run sandboxes.
    if (auto problem = runtime.probe()) {
      log.error("runtime: bubblewrap ({}) cannot create a sandbox here: {}; sessions placed in a local sandbox will end "
                "terminated. See docs/runtime.md, Requirements",
                config.runtime.bwrap, *problem);
    }
  }
  runtime.recover();  // sessions a previous process left running end; those waiting to launch start
  // Deployments fire on the control io_context from here on; start() first finishes runs a crash left unfinished.
  Scheduler scheduler(*store, runtime,
                      {.clock = seams.clock,
                       .max_jitter = std::chrono::seconds(config.max_jitter_seconds),
                       .catch_up_window = std::chrono::seconds(config.catch_up_window_seconds),
                       .crash_point_for_test = seams.crash_point},
                      log);
  scheduler.start();
  tcp::acceptor api_acceptor = listen_on(io, config.api_listen, "API");
  std::string api_address = bound(api_acceptor);
  std::optional<tcp::acceptor> metrics_acceptor;
  std::optional<std::string> metrics_address;
  std::optional<tcp::endpoint> metrics_endpoint;
  if (config.metrics_listen) {
    metrics_acceptor.emplace(listen_on(io, *config.metrics_listen, "metrics"));
    metrics_address = bound(*metrics_acceptor);
    metrics_endpoint = metrics_acceptor->local_endpoint();
  }

  // The data plane: its snapshot (rebuilt from the store on every change), its audit sink, its threads.
  proxy::SnapshotSlot snapshots;
  SnapshotPublisher publisher(io, *store, snapshots, log);
  NetworkPolicies network_policies = load_network_policies(config);
  if (auto set = network_policies.current()) {
    log_policies(log, *set, "loaded");
    publisher.set_policies(std::move(set));
  }
  // SIGHUP and POST /v1/airlock/policies/reload: a set that loaded goes into the snapshot at once.
  const auto apply_policies = [&publisher, &network_policies, &log] {
    if (auto set = network_policies.current()) {
      log_policies(log, *set, "reloaded");
      publisher.set_policies(std::move(set));
    }
  };
  publisher.set_transparent_sources(source_routes(config.transparent_sessions));
  store->on_credentials_changed([&publisher] { publisher.request_rebuild(); });
  store->on_sessions_changed([&publisher] { publisher.request_rebuild(); });
  publisher.flush();
  AuditWriter audit(*store, log,
                    AuditOptions{.retention_days = config.audit_retention_days,
                                 .max_bytes = config.audit_max_bytes,
                                 .jsonl_path = config.audit_jsonl});
  runtime.before_session_ends([&audit] { audit.flush(); });
  proxy::Proxy egress(proxy_options(config, api_acceptor.local_endpoint(), metrics_endpoint, sandbox_uid_base, log), ca.ca,
                      snapshots, audit);
  tcp::endpoint proxy_local = egress.local_endpoint();
  std::string proxy_address = Endpoint{proxy_local.address().to_string(), proxy_local.port()}.to_string();

  // Sandboxes may run with another working directory: hand them absolute paths.
  SandboxEnvSettings sandbox_env{
      config.proxy_advertise_url.empty() ? "http://" + proxy_address : config.proxy_advertise_url,
      {fs::absolute(ca.bundle_path).string(), fs::absolute(ca.trust_store_path).string()},
      [pem = ca.bundle_pem] { return pem; }};
  if (config.allow_weak_secrets) {
    log.warn("credentials.allow_weak_secrets is true: weak secret values are stored with a warning instead of "
             "refused; a sandbox could guess one through an allowed host that echoes it");
  }
  ControlApi api(*store, ApiKeys(keys), log, runtime, sandbox_env,
                 CredentialSettings{.allow_weak_secrets = config.allow_weak_secrets});
  // Environments (network policy) change the snapshot too; the rebuild finishes before the API answers.
  // Any commit may have added session events (or deleted a session): wake the event streams.
  // A commit may also have archived or deleted a running session, or sent its harness a message.
  api.on_committed([&publisher, &events, &runtime] {
    publisher.request_rebuild();
    publisher.flush();
    events.notify_all();
    runtime.after_commit();
  });
  add_network_policy_routes(api.router(), network_policies, apply_policies);
  SidecarApi sidecars(*store, snapshots, [&network_policies] { return network_policies.current(); }, ca.ca, log);
  api.set_token_routes([&sidecars](ApiRequest& request) { return sidecars.handle(request); });
  ApiServer server(std::move(api_acceptor), api, events, log, ServerLimits{.max_header_bytes = config.max_header_bytes,
                                                                           .max_connections_per_source = config.api_max_connections_per_source});
  api.set_metrics([sources = MetricsSources{egress, audit, publisher, scheduler, runtime, server, *store, started}] {
    return render_metrics(sources);
  });
  std::optional<ApiServer> metrics_server;
  if (metrics_acceptor) {
    metrics_server.emplace(std::move(*metrics_acceptor), api, events, log,
                           ServerLimits{.max_header_bytes = config.max_header_bytes, .metrics_only = true});
  }

  auto on_exit = [&log](std::string_view what) {
    return [&log, what](const std::exception_ptr& error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log.error("{} stopped: {}", what, e.what());
      }
    };
  };
  asio::co_spawn(io, server.accept_loop(), on_exit("API listener"));
  if (metrics_server) asio::co_spawn(io, metrics_server->accept_loop(), on_exit("metrics listener"));
  asio::co_spawn(io, audit.run(), on_exit("audit writer"));
  asio::co_spawn(io, purge_idempotency_records(*store, log), on_exit("idempotency purge"));
  asio::co_spawn(io, scheduler.run(), on_exit("scheduler"));

  // SIGHUP: read the policy file and proxy.transparent_sessions again; what does not load leaves what is in
  // force as it was.
  asio::signal_set reload_signal(io, SIGHUP);
  std::function<void()> wait_for_reload = [&] {
    reload_signal.async_wait([&](error_code ec, int) {
      if (ec) return;
      if (auto problem = network_policies.reload()) {
        log.error("network policies not reloaded, the previous ones stay in force: {}", *problem);
      } else {
        apply_policies();
      }
      try {
        std::vector<TransparentSession> sessions = load_transparent_sessions(config.config_file);
        log.info("proxy.transparent_sessions reloaded: {} source range(s)", sessions.size());
        publisher.set_transparent_sources(source_routes(sessions));
      } catch (const ConfigError& e) {
        log.error("proxy.transparent_sessions not reloaded, the previous map stays in force: {}", e.what());
      }
      wait_for_reload();
    });
  };
  wait_for_reload();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer drain(io);
  std::thread proxy_stopper;  // the proxy drains on its own threads while the API drains here
  signals.async_wait([&](error_code ec, int signal) {
    if (ec) return;
    log.info("received {}: stopping; draining for at most {} s", signal == SIGINT ? "SIGINT" : "SIGTERM", kDrainLimit.count());
    api.set_ready(false);
    reload_signal.cancel();
    scheduler.stop();
    runtime.stop_all();  // sandboxes are killed; their sessions end once their output is stored
    server.stop();
    if (metrics_server) metrics_server->stop();
    proxy_stopper = std::thread([&egress] { egress.stop(); });
    auto deadline = std::chrono::steady_clock::now() + kDrainLimit;
    asio::co_spawn(io, [&, deadline]() -> asio::awaitable<void> {
      const auto busy = [&] {
        return server.active() > 0 || (metrics_server && metrics_server->active() > 0) || runtime.active() > 0;
      };
      while (busy() && std::chrono::steady_clock::now() < deadline) {
        drain.expires_after(std::chrono::milliseconds(20));
        co_await drain.async_wait(asio::use_awaitable);
      }
      io.stop();
    }, asio::detached);
  });

  if (config.ready_file) write_ready_file(*config.ready_file, api_address, proxy_address, metrics_address);
  api.set_ready(true);
  egress.start();
  log.info("airlock listening api={} proxy={}{} data_dir={}", api_address, proxy_address,
           metrics_address ? " metrics=" + *metrics_address : std::string(), config.data_dir.string());
  io.run();
  if (proxy_stopper.joinable()) proxy_stopper.join();
  egress.stop();
  audit.flush();  // what the proxy recorded while draining
  log.info("airlock stopped");
  return 0;
}

}  // namespace

int ca_command(std::span<const std::string_view> args) {
  fs::path data_dir = ".airlock";
  bool bundle = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--data-dir" && i + 1 < args.size()) {
      data_dir = fs::path(args[++i]);
    } else if (args[i] == "--bundle") {
      bundle = true;
    } else {
      std::cerr << "usage: airlock ca [--data-dir DIR] [--bundle]\n"
                   "prints Airlock's root CA certificate (with --bundle: system roots + the CA, what sandboxes trust)\n";
      return args[i] == "--help" ? 0 : 2;
    }
  }
  fs::path file = data_dir / (bundle ? "ca-bundle.pem" : "ca.pem");
  std::ifstream in(file);
  if (!in) {
    std::cerr << "airlock: no " << file.string() << ": it is created by the first `airlock serve --data-dir "
              << data_dir.string() << "`\n";
    return 1;
  }
  std::cout << in.rdbuf();
  return 0;
}

int serve_command(std::span<const std::string_view> args) {
  for (std::string_view arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << kServeUsage;
      return 0;
    }
  }
  // A harness that exits without reading its input makes the write to its stdin pipe fail: that must be
  // EPIPE for that session, not a signal that ends the daemon. (Children get default dispositions back.)
  (void)std::signal(SIGPIPE, SIG_IGN);  // fails only for an invalid signal number
  if (sodium_init() < 0) {
    std::cerr << "airlock: libsodium failed to initialise\n";
    return 1;
  }
  const char* key_env = std::getenv("AIRLOCK_API_KEY");
  Config config;
  try {
    config = load_config(args, key_env ? key_env : "");
  } catch (const ConfigError& e) {
    std::cerr << "airlock: " << e.what() << "\n";
    return 2;
  }
  Logger log(config.log_level, config.log_format);
  if (const std::string failed = disable_core_dumps(); !failed.empty()) {
    log.warn("core dumps stay possible ({}): a core file of this process would hold the master key and secrets",
             failed);
  }
  try {
    return run(config, log);
  } catch (const std::system_error& e) {
    log.error("{}", e.what());  // store errors say what to do (wrong master key, newer schema)
  } catch (const std::exception& e) {
    log.error("{}", e.what());
  }
  return 1;
}

}  // namespace airlock::control
