// listener: the Proxy object (proxy.hpp): binding, the worker threads, the accept loops and shutdown.
//
// One io_context per worker thread (STYLE.md §2). The acceptors (TCP, and the Unix socket when
// configured) live on worker 0 and accept each socket straight onto the next worker's io_context (round
// robin, one counter for both); the connection coroutine is spawned there and never leaves it, so
// connection state needs no locks. Both listeners hand the same connection code a generic stream socket.
// Each worker also sweeps its upstream pool now and then.
//
// stop(): (1) close the acceptors and remove the Unix socket file; (2) drain: every connection (from
// either listener) finishes its current exchange with Connection: close, idle ones close at once; (3)
// after timeouts.drain, abort what is left; (4) stop the io_contexts and join.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <memory>
#include <optional>
#include <system_error>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "airlock/proxy/proxy.hpp"
#include "connection.hpp"
#include "context.hpp"
#include "forward.hpp"
#include "original_destination.hpp"

namespace airlock::proxy {

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);

[[noreturn]] void fail(const certs::Error& error, std::string_view what) {
  throw std::system_error(error.error_code(), fmt::format("{}: {}", what, error.message));
}

void log_line(const Shared& shared, LogLevel level, std::string_view line) {
  if (shared.options.log) {
    try {
      shared.options.log(level, line);
    } catch (...) {
    }
  }
}

asio::awaitable<void> sweep_pool(Worker& worker, Clock::duration interval) {
  asio::steady_timer timer(worker.io);
  for (;;) {
    timer.expires_after(interval);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec) co_return;
    worker.pool.sweep();
  }
}

std::system_error errno_error(std::string_view what) {
  return std::system_error(errno, std::generic_category(), std::string(what));
}

// Past proxy.max_connections (503) or max_connections_per_source (429): a refusal instead of a connection
// (and instead of running out of descriptors), then the same lingering close as any refusal, under a
// watchdog of its own.
asio::awaitable<void> turn_away(const Shared& shared, Worker& worker, Socket socket, std::string response) {
  using namespace asio::experimental::awaitable_operators;
  Leg client(std::move(socket), worker.buffers);
  Watchdog watchdog(client.socket().get_executor());
  watchdog.watch(client);
  const auto refuse_and_close = [&]() -> asio::awaitable<void> {
    client.expires_after(shared.options.timeouts.tls_shutdown);
    if (!co_await client.write_all(response)) co_await lingering_close(client, shared.options.timeouts);
    client.close_now();
  };
  co_await (refuse_and_close() || watchdog.run());
  watchdog.unwatch(client);
}

// A connection's coroutine with its source's lease, released when the connection ends.
asio::awaitable<void> holding(SourceLimits::Lease lease, asio::awaitable<void> connection) {
  co_await std::move(connection);
  (void)lease;
}

// The CPUs this process may run on (its affinity mask: a container or `taskset` gives fewer than the
// machine has). More workers than that only add hand-offs and context switches.
std::size_t usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// A listening TCP socket on `wanted` (SO_REUSEADDR, close-on-exec). `tproxy`: also IP_TRANSPARENT, when
// permitted; `tproxy_enabled` says whether it was.
tcp::acceptor open_tcp_listener(asio::io_context& io, const tcp::endpoint& wanted, std::string_view what, bool tproxy,
                                bool* tproxy_enabled = nullptr) {
  tcp::acceptor acceptor(io);
  error_code ec;
  if (!acceptor.open(wanted.protocol(), ec)) {
    ::fcntl(acceptor.native_handle(), F_SETFD, FD_CLOEXEC);  // never inherited by a process we start
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (tproxy) {
      const bool enabled = enable_tproxy(acceptor.native_handle(), wanted.address().is_v6());
      if (tproxy_enabled != nullptr) *tproxy_enabled = enabled;
    }
  }
  if (!ec) acceptor.bind(wanted, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::system_error(ec, fmt::format("proxy: cannot listen on {}{}", what.empty() ? "" : fmt::format("{} ", what),
                                            endpoint_text(wanted)));
  }
  return acceptor;
}

// The mark upstream sockets can carry: `wanted`, when this process may set SO_MARK (CAP_NET_ADMIN), else 0.
std::uint32_t usable_mark(std::uint32_t wanted) {
  if (wanted == 0) return 0;
  const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return 0;
  const bool permitted = ::setsockopt(probe, SOL_SOCKET, SO_MARK, &wanted, sizeof wanted) == 0;
  ::close(probe);
  return permitted ? wanted : 0;
}

// This machine's interface addresses (getifaddrs), for listeners on 0.0.0.0 or ::.
std::vector<policies::Address> interface_addresses() {
  ifaddrs* first = nullptr;
  if (::getifaddrs(&first) != 0) throw errno_error("proxy: cannot list this machine's addresses (getifaddrs)");
  const std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> owned(first, &::freeifaddrs);
  std::vector<policies::Address> out;
  for (const ifaddrs* entry = first; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    if (entry->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      out.emplace_back(asio::ip::address_v4(ntohl(in->sin_addr.s_addr)));
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr), bytes.begin());
      out.emplace_back(asio::ip::address_v6(bytes));  // compared without a scope
    }
  }
  return out;
}

// Every listener of this process as the address checks see it (N1): the given ones and the proxy's own,
// and for one on 0.0.0.0 or :: each address of this machine it answers on.
std::vector<policies::OwnListener> own_listeners(std::vector<policies::OwnListener> listeners, policies::OwnListener proxy) {
  listeners.push_back(std::move(proxy));
  std::vector<policies::OwnListener> expanded;
  std::optional<std::vector<policies::Address>> interfaces;
  for (const policies::OwnListener& listener : listeners) {
    expanded.push_back(listener);
    if (!listener.address.is_unspecified()) continue;
    if (!interfaces) interfaces = interface_addresses();
    for (const policies::Address& address : *interfaces) {
      if (address.is_v6() && listener.address.is_v4()) continue;  // an IPv4 listener answers on IPv4 only
      expanded.push_back({address, listener.port, listener.name});
    }
  }
  return expanded;
}

}  // namespace

// The Unix listener and its socket file. The file is removed when the listener is closed, but only while
// it is still the socket this listener bound: a file someone put there since is not ours to delete.
class UnixListener {
 public:
  using Protocol = asio::local::stream_protocol;

  // Binds and listens at `path`: a socket file already there is stale (a crashed run) and replaced; any
  // other file is refused. Throws std::system_error naming the path.
  UnixListener(asio::io_context& io, std::filesystem::path path, std::optional<gid_t> group)
      : acceptor_(io), path_(std::move(path)) {
    const std::string& name = path_.native();
    const std::string failure = fmt::format("proxy: cannot listen on the Unix socket {}", name);
    if (name.empty() || name.size() >= sizeof(sockaddr_un::sun_path)) {
      throw std::system_error(std::make_error_code(std::errc::filename_too_long),
                              fmt::format("{} (a Unix socket path is 1 to {} bytes)", failure,
                                          sizeof(sockaddr_un::sun_path) - 1));
    }
    struct stat existing {};
    if (::lstat(name.c_str(), &existing) == 0) {
      if (!S_ISSOCK(existing.st_mode)) {
        throw std::system_error(std::make_error_code(std::errc::file_exists),
                                fmt::format("{}: the path exists and is not a socket (left as it is; remove it or "
                                            "choose another path)",
                                            failure));
      }
      if (::unlink(name.c_str()) != 0 && errno != ENOENT) throw errno_error(failure + ": removing the stale socket");
    } else if (errno != ENOENT) {
      throw errno_error(failure);
    }
    error_code ec;
    acceptor_.open(Protocol(), ec);
    if (ec) throw std::system_error(ec, failure);
    // Never inherited by a process we start (sandboxes).
    ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
    acceptor_.bind(Protocol::endpoint(name), ec);
    if (ec) throw std::system_error(ec, failure);
    struct stat bound {};
    if (::lstat(name.c_str(), &bound) != 0) throw errno_error(failure);
    device_ = bound.st_dev;
    inode_ = bound.st_ino;
    owns_file_ = true;
    // Before listen(): until then every connect() is refused, so nobody gets in under the umask's mode.
    // With a group (the sandboxes', N6) its members may connect as well.
    const bool regrouped = !group || ::chown(name.c_str(), static_cast<uid_t>(-1), *group) == 0;
    if (!regrouped || ::chmod(name.c_str(), group ? 0660 : 0600) != 0) {
      const auto error = errno_error(group ? fmt::format("{}: chown to group {} and chmod 0660", failure, *group)
                                           : failure + ": chmod 0600");
      remove_file();  // no destructor runs for a constructor that throws
      throw error;  // NOLINT(cert-err61-cpp): made before remove_file() can change errno
    }
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      remove_file();
      throw std::system_error(ec, failure);
    }
  }
  ~UnixListener() {
    close();
    remove_file();
  }
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  Protocol::acceptor& acceptor() noexcept { return acceptor_; }
  // On the acceptor's thread (or before the threads start).
  void close() noexcept {
    error_code ignored;
    acceptor_.close(ignored);
  }
  // Any thread, after close().
  void remove_file() noexcept {
    if (!owns_file_) return;
    owns_file_ = false;
    struct stat now {};
    if (::lstat(path_.c_str(), &now) == 0 && S_ISSOCK(now.st_mode) && now.st_dev == device_ && now.st_ino == inode_) {
      ::unlink(path_.c_str());
    }
  }

 private:
  Protocol::acceptor acceptor_;
  std::filesystem::path path_;
  dev_t device_ = 0;
  ino_t inode_ = 0;
  bool owns_file_ = false;
};

struct Proxy::Impl {
  std::unique_ptr<Shared> shared;
  std::vector<std::unique_ptr<Worker>> workers;
  std::optional<tcp::acceptor> acceptor;
  std::optional<UnixListener> unix_listener;  // when options.unix_socket is set
  std::vector<tcp::acceptor> transparent_acceptors;  // options.transparent_listen, in order
  std::vector<tcp::endpoint> transparent_endpoints;
  std::size_t next_worker = 0;                // round robin over both accept loops (worker 0's thread)
  tcp::endpoint endpoint;
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  bool started = false;
  bool stopped = false;

  // Accepts onto the workers in turn until the acceptor closes. `family`: the sockets' address family
  // (TCP_NODELAY or not). `transparent`: a transparent listener's connections (serve_transparent).
  template <class Acceptor>
  asio::awaitable<void> accept_loop(Acceptor& listening, int family, bool transparent = false) {
    asio::steady_timer backoff(workers.front()->io);
    for (;;) {
      Worker& worker = *workers[next_worker++ % workers.size()];
      auto [ec, accepted] = co_await listening.async_accept(worker.io, kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || !listening.is_open()) co_return;
        // Out of descriptors or memory: wait a little instead of spinning; connections will close.
        log_line(*shared, LogLevel::warn, fmt::format("proxy accept failed: {}", ec.message()));
        backoff.expires_after(kAcceptBackoff);
        co_await backoff.async_wait(kNoThrow);
        continue;
      }
      shared->counters.connections_accepted.fetch_add(1, std::memory_order_relaxed);
      Shared* state = shared.get();
      // The relay's Unix socket has one peer, itself, for every session: only TCP sources are counted.
      constexpr bool kCountsSources = std::is_same_v<Acceptor, tcp::acceptor>;
      SourceLimits::Lease source;
      std::string source_text;
      if constexpr (kCountsSources) {
        error_code peer_error;
        const tcp::endpoint peer = accepted.remote_endpoint(peer_error);
        source_text = peer_error ? std::string("?") : peer.address().to_string();
        source = state->sources.connect(source_text);
      }
      Socket socket(std::move(accepted));
      prepare_socket(socket, family);
      std::optional<Reason> refusal;
      std::string detail;
      if (const std::size_t limit = state->options.max_connections;
          limit > 0 && state->counters.connections_open.load(std::memory_order_relaxed) >= limit) {
        refusal = Reason::proxy_connection_limit;
        detail = std::to_string(limit);
      } else if (kCountsSources && !source.held()) {
        refusal = Reason::source_connection_limit;
        detail = std::to_string(state->options.max_connections_per_source);
      }
      if (refusal) {
        state->counters.refused[static_cast<std::size_t>(*refusal)].fetch_add(1, std::memory_order_relaxed);
        asio::co_spawn(worker.io,
                       turn_away(*state, worker, std::move(socket),
                                 render_refusal(*refusal, RefusalFacts{.host = source_text, .detail = detail})),
                       asio::detached);
        continue;
      }
      auto serve = transparent ? serve_transparent(*state, worker, std::move(socket))
                               : serve_connection(*state, worker, std::move(socket));
      asio::co_spawn(worker.io, holding(std::move(source), std::move(serve)), [state](const std::exception_ptr& error) {
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log_line(*state, LogLevel::error, fmt::format("proxy connection failed: {}", e.what()));
        } catch (...) {
          log_line(*state, LogLevel::error, "proxy connection failed");
        }
      });
    }
  }

  void close_acceptors() noexcept {
    error_code ignored;
    acceptor->close(ignored);
    if (unix_listener) unix_listener->close();
    for (tcp::acceptor& listening : transparent_acceptors) listening.close(ignored);
  }

  // Runs `action` on every worker's thread and waits for all of them.
  template <class Action>
  void on_every_worker(Action action) {
    std::atomic<std::size_t> pending{workers.size()};
    for (auto& worker : workers) {
      asio::post(worker->io, [&pending, &action, w = worker.get()] {
        action(*w);
        pending.fetch_sub(1);
      });
    }
    while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  bool wait_for_connections(std::chrono::steady_clock::duration limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (shared->counters.connections_open.load() > 0) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
};

Proxy::Proxy(ProxyOptions options, std::shared_ptr<const certs::RootCa> ca, SnapshotSlot& snapshots, AuditSink& audit)
    : impl_(std::make_unique<Impl>()) {
  if (!ca) throw std::system_error(std::make_error_code(std::errc::invalid_argument), "proxy: no root CA");
  certs::LeafCacheOptions leaf_options;
  leaf_options.capacity = options.leaf_cache_capacity;
  auto leaves = certs::LeafCache::create(std::move(ca), std::move(leaf_options));
  if (!leaves) fail(leaves.error(), "proxy: leaf certificate cache");
  certs::UpstreamTlsOptions tls_options;
  tls_options.extra_ca_files = options.upstream_ca;
  auto upstream_tls = certs::make_upstream_context(tls_options);
  if (!upstream_tls) fail(upstream_tls.error(), "proxy: upstream TLS");

  std::size_t threads = options.threads;
  if (threads == 0) threads = usable_cpus();
  for (std::size_t i = 0; i < threads; ++i) impl_->workers.push_back(std::make_unique<Worker>(options));

  const std::string host = options.listen_host;
  const std::uint16_t port = options.listen_port;

  error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::system_error(ec, fmt::format("proxy: listen address {:?} is not an IP address", host));
  auto& acceptor =
      impl_->acceptor.emplace(open_tcp_listener(impl_->workers.front()->io, tcp::endpoint(address, port), "", false));
  impl_->endpoint = acceptor.local_endpoint();
  std::vector<policies::OwnListener> listeners = options.own_listeners;
  std::vector<std::string> redirect_only;
  for (const tcp::endpoint& wanted : options.transparent_listen) {
    bool tproxy = false;
    impl_->transparent_acceptors.push_back(
        open_tcp_listener(impl_->workers.front()->io, wanted, "the transparent listener", true, &tproxy));
    const tcp::endpoint bound = impl_->transparent_acceptors.back().local_endpoint();
    impl_->transparent_endpoints.push_back(bound);
    listeners.push_back({bound.address(), bound.port(), "transparent listener"});
    if (!tproxy) redirect_only.push_back(endpoint_text(bound));
  }
  const std::uint32_t mark = usable_mark(options.upstream_mark);
  if (!options.transparent_listen.empty() && options.log) {
    if (!redirect_only.empty()) {
      options.log(LogLevel::info, fmt::format("proxy: transparent listener {} takes REDIRECTed connections only: "
                                              "TPROXY needs IP_TRANSPARENT, which needs CAP_NET_ADMIN",
                                              fmt::join(redirect_only, ", ")));
    }
    if (mark == 0 && options.upstream_mark != 0) {
      options.log(LogLevel::warn, fmt::format("proxy: cannot mark upstream connections with {:#x} (SO_MARK needs "
                                              "CAP_NET_ADMIN): the redirect rules must exclude this process's uid "
                                              "instead (docs/sidecar.md)",
                                              options.upstream_mark));
    }
  }
  if (!options.unix_socket.empty()) {
    impl_->unix_listener.emplace(impl_->workers.front()->io, options.unix_socket, options.unix_socket_group);
  }
  policies::AddressRules address_rules(
      options.allow_private, own_listeners(std::move(listeners), {impl_->endpoint.address(), impl_->endpoint.port(), "proxy"}));
  impl_->shared = std::make_unique<Shared>(std::move(options), std::move(address_rules), std::move(*leaves),
                                           std::move(*upstream_tls), snapshots, audit, mark);
}

Proxy::~Proxy() { stop(); }  // NOLINT(bugprone-exception-escape): see the declaration

tcp::endpoint Proxy::local_endpoint() const { return impl_->endpoint; }

std::vector<tcp::endpoint> Proxy::transparent_endpoints() const { return impl_->transparent_endpoints; }

void Proxy::start() {
  Impl& impl = *impl_;
  if (impl.started || impl.stopped) return;
  impl.started = true;
  asio::co_spawn(impl.workers.front()->io, impl.accept_loop(*impl.acceptor, impl.endpoint.protocol().family()),
                 [](const std::exception_ptr&) {});
  if (impl.unix_listener) {
    asio::co_spawn(impl.workers.front()->io, impl.accept_loop(impl.unix_listener->acceptor(), AF_UNIX),
                   [](const std::exception_ptr&) {});
  }
  for (std::size_t i = 0; i < impl.transparent_acceptors.size(); ++i) {
    asio::co_spawn(impl.workers.front()->io,
                   impl.accept_loop(impl.transparent_acceptors[i], impl.transparent_endpoints[i].protocol().family(), true),
                   [](const std::exception_ptr&) {});
  }
  const auto sweep_every = std::max<Clock::duration>(
      std::chrono::seconds(1), std::chrono::duration_cast<Clock::duration>(impl.shared->options.timeouts.pool_idle) / 2);
  for (auto& worker : impl.workers) {
    asio::co_spawn(worker->io, sweep_pool(*worker, sweep_every), [](const std::exception_ptr&) {});
    impl.guards.push_back(asio::make_work_guard(worker->io));
  }
  for (auto& worker : impl.workers) {
    impl.threads.emplace_back([&impl, w = worker.get()] {
      // OpenSSL writes to the socket with write(2): a peer that has gone would raise SIGPIPE. Blocked
      // on our own threads (thread-directed, so it stays pending here), the write returns EPIPE instead.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      for (;;) {
        try {
          w->io.run();
          return;
        } catch (const std::exception& e) {
          log_line(*impl.shared, LogLevel::error, fmt::format("proxy worker: {}", e.what()));
        }
      }
    });
  }
}

void Proxy::stop() {
  Impl& impl = *impl_;
  if (impl.stopped) return;
  impl.stopped = true;
  if (!impl.started) {
    impl.close_acceptors();
    if (impl.unix_listener) impl.unix_listener->remove_file();
    return;
  }
  impl.on_every_worker([&impl](Worker& worker) {
    if (&worker == impl.workers.front().get()) impl.close_acceptors();
  });
  if (impl.unix_listener) impl.unix_listener->remove_file();
  impl.shared->draining.store(true);
  impl.on_every_worker([](Worker& worker) {
    for (Connection* connection : worker.connections) connection->drain();
  });
  if (!impl.wait_for_connections(impl.shared->options.timeouts.drain)) {
    impl.on_every_worker([](Worker& worker) {
      for (Connection* connection : worker.connections) connection->abort();
    });
    impl.wait_for_connections(std::chrono::seconds(1));
  }
  impl.on_every_worker([](Worker& worker) { worker.pool.clear(); });
  impl.guards.clear();
  for (auto& worker : impl.workers) worker->io.stop();
  for (auto& thread : impl.threads) thread.join();
  impl.threads.clear();
}

void Proxy::replace_ca(std::shared_ptr<const certs::RootCa> ca) { impl_->shared->leaves->replace_ca(std::move(ca)); }

ProxyStats Proxy::stats() const {
  const Counters& counters = impl_->shared->counters;
  ProxyStats stats;
  stats.connections_accepted = counters.connections_accepted.load(std::memory_order_relaxed);
  stats.connections_open = counters.connections_open.load(std::memory_order_relaxed);
  stats.requests_allowed = counters.requests_allowed.load(std::memory_order_relaxed);
  stats.requests_substituted = counters.requests_substituted.load(std::memory_order_relaxed);
  stats.responses_redacted = counters.responses_redacted.load(std::memory_order_relaxed);
  stats.tunnels_passthrough = counters.tunnels_passthrough.load(std::memory_order_relaxed);
  stats.transparent_connections = counters.transparent_connections.load(std::memory_order_relaxed);
  stats.upstream_connections_opened = counters.upstream_connections_opened.load(std::memory_order_relaxed);
  stats.upstream_connections_reused = counters.upstream_connections_reused.load(std::memory_order_relaxed);
  stats.upstream_connections_open = counters.upstream_connections_open.load(std::memory_order_relaxed);
  stats.client_tls_handshakes = counters.client_tls_handshakes.load(std::memory_order_relaxed);
  stats.upstream_tls_handshakes = counters.upstream_tls_handshakes.load(std::memory_order_relaxed);
  stats.bytes_up = counters.bytes_up.load(std::memory_order_relaxed);
  stats.bytes_down = counters.bytes_down.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < counters.refused.size(); ++i) {
    const auto count = counters.refused[i].load(std::memory_order_relaxed);
    if (count > 0) stats.refused[std::string(reason_word(static_cast<Reason>(i)))] = count;
  }
  for (auto& [key, count] : counters.redactions.snapshot()) stats.redactions.emplace(key.first, count);
  stats.host_requests = counters.host_requests.snapshot();
  stats.request_duration = counters.request_duration.snapshot();
  stats.upstream_connect_duration = counters.upstream_connect_duration.snapshot();
  stats.leaves = impl_->shared->leaves->stats();
  return stats;
}

}  // namespace airlock::proxy
