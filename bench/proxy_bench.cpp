// Proxy benchmark: the same load against the same HTTPS origin, once directly and once through Airlock,
// in one run (ARCHITECTURE.md's performance table; the machine is shared and noisy, so only figures from
// the same run are compared). Prints figures; asserts nothing.
//
// Layout: the Proxy runs in a child process (forked before any thread exists), pinned to CPU 0 with one
// worker thread, so its CPU time and RSS can be read from /proc/<pid>. The origin (thread per
// connection, blocking OpenSSL) and the load generator (a thread per connection) run in the parent,
// pinned to the other CPUs. The session has one credential, so redaction is active on every response.
//
// Scenarios:
//   keep-alive   16, 64 and 1,000 connections each sending 1 KiB GETs for a fixed time: req/s, p50/p99
//                latency, and the proxy's CPU per request; then 16 connections against a second proxy
//                whose snapshot holds 1,000 sessions and 200 credentials (CPU per request against the
//                one-session figure)
//   connect      16 connections, each request on a new connection: TCP + CONNECT + TLS handshake
//                (no client-side resumption) + one GET: conn/s
//   bulk         64 MiB chunked download over one connection: MiB/s
//   idle         1,000 intercepted connections left idle after one request: the proxy's RSS per connection
//
// Usage: airlock_proxy_bench [seconds per keep-alive/connect run, default 3]
//        AIRLOCK_BENCH_NO_PIN=1 leaves placement to the scheduler (no CPU pinning);
//        AIRLOCK_BENCH_ONLY=keep-alive|connect|bulk|idle runs one scenario.
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace airlock;
using namespace airlock::proxy;
using namespace airlock::proxy::test;
using Clock = std::chrono::steady_clock;

struct ProcStat {
  double cpu_seconds = 0;
  long rss_kib = 0;
};

ProcStat proc_stat(pid_t pid) {
  ProcStat out;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) {
      stime = std::stoul(field);
      break;
    }
  }
  out.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) out.rss_kib = std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return out;
}

void pin_to(std::vector<int> cpus) {
  if (std::getenv("AIRLOCK_BENCH_NO_PIN") != nullptr) return;  // let the scheduler place everything
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// ---- the child: a Proxy and nothing else ----

constexpr int kLargeSessions = 1000;     // live sessions in the large snapshot
constexpr int kLargeCredentials = 200;   // credentials of the benchmark's session in the large snapshot

// The benchmark's session with its one credential for localhost; `large`: also 199 more credentials (for
// other hosts, so they are checked on every request but never substituted) and 999 more sessions.
std::shared_ptr<const CredentialSnapshot> bench_snapshot(bool large) {
  std::vector<std::shared_ptr<const CredentialRule>> credentials = {
      env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret, {"localhost"})};
  std::vector<SessionEntry> sessions;
  if (large) {
    for (int i = 1; i < kLargeCredentials; ++i) {
      credentials.push_back(env_credential(fmt::format("vcrd_bench{}", i), fmt::format("BENCH_TOKEN_{}", i),
                                           fmt::format("airlock_ph_{:040d}", i), fmt::format("sk-bench-secret-{:032d}", i),
                                           {fmt::format("api{}.example.com", i)}));
    }
    for (int i = 1; i < kLargeSessions; ++i) {
      sessions.push_back(session_entry(fmt::format("sesn_bench{:06d}", i), fmt::format("{:064x}", i), {}));
    }
  }
  sessions.push_back(session_entry(std::string(kSession), std::string(kToken), std::move(credentials)));
  return snapshot_of(std::move(sessions));
}

[[noreturn]] void run_proxy(std::shared_ptr<const certs::RootCa> ca, const std::string& origin_ca_file, bool large,
                            int port_pipe, int stop_pipe) {
  pin_to({0});
  SnapshotSlot slot(bench_snapshot(large));
  struct NullSink final : AuditSink {
    void record(EgressRecord) noexcept override {}
  } sink;
  ProxyOptions options;
  options.listen_host = "127.0.0.1";
  options.listen_port = 0;
  options.threads = 1;
  options.upstream_ca = {origin_ca_file};
  options.resolve = {{"localhost", "127.0.0.1"}};
  options.allow_private = {airlock::policies::Cidr::parse("127.0.0.0/8").value()};  // the origin is on loopback (N1)
  // One session drives every connection here: its admission limits (256 connections, 1,000 requests per
  // second by default) would measure the limits, not the proxy.
  options.max_connections_per_session = 0;
  options.max_requests_per_second_per_session = 0;
  {
    Proxy proxy(options, std::move(ca), slot, sink);
    proxy.start();
    const std::uint16_t port = proxy.local_endpoint().port();
    (void)!write(port_pipe, &port, sizeof port);
    char byte = 0;
    (void)!read(stop_pipe, &byte, 1);  // returns when the parent closes its end
    proxy.stop();
  }
  _exit(0);
}

// ---- load ----

struct Target {
  bool through_proxy = false;
  std::uint16_t proxy_port = 0;
  std::uint16_t origin_port = 0;
  std::string airlock_ca_pem;
  std::string origin_ca_pem;
};

// A new connection, ready for requests to localhost:<origin>: direct TLS, or CONNECT + TLS via Airlock.
std::optional<Stream> open(const Target& target) {
  try {
    if (!target.through_proxy) {
      Stream stream(connect_tcp(target.origin_port));
      if (!stream.start_tls(target.origin_ca_pem, "localhost", "localhost")) return std::nullopt;
      return stream;
    }
    Stream stream(connect_tcp(target.proxy_port));
    stream.send(fmt::format("CONNECT localhost:{} HTTP/1.1\r\nHost: localhost:{}\r\nProxy-Authorization: {}\r\n\r\n",
                            target.origin_port, target.origin_port, proxy_auth()));
    std::string head;
    char c = 0;
    while (!head.ends_with("\r\n\r\n") && stream.recv(&c, 1) == 1) head += c;
    if (head.rfind("HTTP/1.1 200", 0) != 0) return std::nullopt;
    if (!stream.start_tls(target.airlock_ca_pem, "localhost", "localhost")) return std::nullopt;
    return stream;
  } catch (...) {
    return std::nullopt;
  }
}

std::string get(const Target& target, std::string_view path) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", path, target.origin_port);
}

struct LoadResult {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
};

LoadResult keep_alive(const Target& target, int connections, double seconds) {
  std::vector<LoadResult> per(static_cast<std::size_t>(connections));
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&, i] {
      LoadResult& mine = per[static_cast<std::size_t>(i)];
      auto stream = open(target);
      if (!stream) {
        ++mine.failures;
        return;
      }
      const std::string request = get(target, "/fixed?bytes=1024");
      std::string leftover;
      while (!go.load()) std::this_thread::yield();
      while (!stop.load()) {
        const auto start = Clock::now();
        stream->send(request);
        const Response response = read_response(*stream, leftover);
        if (response.status != 200 || response.body.size() != 1024) {
          ++mine.failures;
          return;
        }
        mine.latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        ++mine.requests;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // connections established
  const auto start = Clock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& thread : threads) thread.join();
  LoadResult total;
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& one : per) {
    total.requests += one.requests;
    total.failures += one.failures;
    total.latencies_us.insert(total.latencies_us.end(), one.latencies_us.begin(), one.latencies_us.end());
  }
  std::sort(total.latencies_us.begin(), total.latencies_us.end());
  return total;
}

LoadResult connect_per_request(const Target& target, int connections, double seconds) {
  std::vector<LoadResult> per(static_cast<std::size_t>(connections));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&, i] {
      LoadResult& mine = per[static_cast<std::size_t>(i)];
      const std::string request = fmt::format("GET /fixed?bytes=1024 HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
                                              target.origin_port);
      while (!stop.load()) {
        auto stream = open(target);
        if (!stream) {
          ++mine.failures;
          continue;
        }
        stream->send(request);
        std::string leftover;
        const Response response = read_response(*stream, leftover);
        if (response.status == 200) {
          ++mine.requests;
        } else {
          ++mine.failures;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& thread : threads) thread.join();
  LoadResult total;
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& one : per) {
    total.requests += one.requests;
    total.failures += one.failures;
  }
  return total;
}

double bulk(const Target& target, std::uint64_t bytes) {
  auto stream = open(target);
  if (!stream) return 0;
  const auto start = Clock::now();
  stream->send(get(target, fmt::format("/download?bytes={}", bytes)));
  http1::ResponseParser parser;
  std::vector<std::string_view> pieces;
  std::vector<char> buffer(256 * 1024);
  std::uint64_t received = 0;
  bool done = false;
  while (!done) {
    const std::size_t n = stream->recv(buffer.data(), buffer.size());
    if (n == 0) break;
    std::string_view input(buffer.data(), n);
    while (!input.empty() || !done) {
      const auto step = parser.parse(input, pieces);
      input.remove_prefix(step.consumed);
      for (auto piece : pieces) received += piece.size();
      pieces.clear();
      if (step.state == http1::State::message_done) done = true;
      if (step.state == http1::State::error) return 0;
      if (done || step.state == http1::State::need_more || step.state == http1::State::body) break;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (received != bytes) return 0;
  return static_cast<double>(bytes) / (1024.0 * 1024.0) / seconds;
}

bool wanted(std::string_view scenario) {
  const char* only = std::getenv("AIRLOCK_BENCH_ONLY");
  return only == nullptr || scenario == only;
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);

  TempDir dir;
  auto airlock_ca = std::make_shared<const certs::RootCa>(std::move(*certs::RootCa::generate()));
  certs::RootCa origin_ca = std::move(*certs::RootCa::generate());
  const auto origin_ca_file = dir.path() / "origin-ca.pem";
  write_file(origin_ca_file, origin_ca.certificate_pem());

  // Both proxies are forked now, before this process starts any thread: the usual one, and one whose
  // snapshot holds 1,000 sessions and 200 credentials (for the scaling figures).
  struct Child {
    pid_t pid = 0;
    int port_fd = -1;
    int stop_fd = -1;
  };
  std::vector<int> parent_ends;  // a later child must not hold an earlier child's stop pipe open
  const auto fork_proxy = [&](bool large) -> Child {
    int port_pipe[2], stop_pipe[2];
    if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0) std::exit(1);
    const pid_t pid = fork();
    if (pid == 0) {
      for (int fd : parent_ends) close(fd);
      close(port_pipe[0]);
      close(stop_pipe[1]);
      run_proxy(airlock_ca, origin_ca_file.string(), large, port_pipe[1], stop_pipe[0]);
    }
    close(port_pipe[1]);
    close(stop_pipe[0]);
    parent_ends.insert(parent_ends.end(), {port_pipe[0], stop_pipe[1]});
    return Child{pid, port_pipe[0], stop_pipe[1]};
  };
  const Child small_child = fork_proxy(false);
  const Child large_child = fork_proxy(true);
  const pid_t child = small_child.pid;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 1) {
    std::vector<int> others;
    for (int cpu = 1; cpu < cpus; ++cpu) others.push_back(cpu);
    pin_to(others);
  }
  std::uint16_t proxy_port = 0;
  std::uint16_t large_proxy_port = 0;
  if (read(small_child.port_fd, &proxy_port, sizeof proxy_port) != sizeof proxy_port) return 1;
  if (read(large_child.port_fd, &large_proxy_port, sizeof large_proxy_port) != sizeof large_proxy_port) return 1;

  Origin origin(origin_ca, Origin::Options{.tls = true, .fixed_name = {}, .record = false, .handler = {}});
  Target direct{false, proxy_port, origin.port(), airlock_ca->certificate_pem(), origin_ca.certificate_pem()};
  Target airlock = direct;
  airlock.through_proxy = true;
  Target airlock_large = airlock;
  airlock_large.proxy_port = large_proxy_port;

  if (std::getenv("AIRLOCK_BENCH_NO_PIN") != nullptr) {
    std::printf("Airlock proxy benchmark: %ld CPUs, no pinning; proxy with 1 worker; %.1f s per run\n\n", cpus, seconds);
  } else {
    std::printf("Airlock proxy benchmark: %ld CPUs; proxy pinned to CPU 0 with 1 worker, origin and load on the rest; "
                "%.1f s per run\n\n",
                cpus, seconds);
  }

  double small_cpu_per_request = 0;  // the 16-connection figure, the baseline of the scaling case
  for (int connections : {16, 64, 1000}) {
    if (!wanted("keep-alive")) break;
    const LoadResult d = keep_alive(direct, connections, seconds);
    const ProcStat before = proc_stat(child);
    const LoadResult a = keep_alive(airlock, connections, seconds);
    const ProcStat after = proc_stat(child);
    const double d_rate = static_cast<double>(d.requests) / d.seconds;
    const double a_rate = static_cast<double>(a.requests) / a.seconds;
    std::printf("keep-alive 1 KiB GETs, %d conns\n", connections);
    std::printf("  direct   %9.0f req/s  p50 %7.0f us  p99 %7.0f us  (failures %llu)\n", d_rate,
                percentile(d.latencies_us, 0.50), percentile(d.latencies_us, 0.99),
                static_cast<unsigned long long>(d.failures));
    std::printf("  airlock  %9.0f req/s  p50 %7.0f us  p99 %7.0f us  (failures %llu)  = %.2fx direct\n", a_rate,
                percentile(a.latencies_us, 0.50), percentile(a.latencies_us, 0.99),
                static_cast<unsigned long long>(a.failures), a_rate / d_rate);
    const double cpu_per_request =
        a.requests > 0 ? (after.cpu_seconds - before.cpu_seconds) * 1e6 / static_cast<double>(a.requests) : 0.0;
    if (connections == 16) small_cpu_per_request = cpu_per_request;
    std::printf("  proxy CPU per request: %.1f us\n\n", cpu_per_request);
  }

  if (wanted("keep-alive")) {
    // The same 16-connection load against the proxy whose snapshot is large: the cost per request must not
    // grow with the sessions and credentials it knows.
    const ProcStat before = proc_stat(large_child.pid);
    const LoadResult a = keep_alive(airlock_large, 16, seconds);
    const ProcStat after = proc_stat(large_child.pid);
    const double cpu_per_request =
        a.requests > 0 ? (after.cpu_seconds - before.cpu_seconds) * 1e6 / static_cast<double>(a.requests) : 0.0;
    std::printf("keep-alive 1 KiB GETs, 16 conns, %d sessions and %d credentials in the snapshot\n", kLargeSessions,
                kLargeCredentials);
    std::printf("  airlock  %9.0f req/s  p50 %7.0f us  p99 %7.0f us  (failures %llu)\n",
                static_cast<double>(a.requests) / a.seconds, percentile(a.latencies_us, 0.50),
                percentile(a.latencies_us, 0.99), static_cast<unsigned long long>(a.failures));
    std::printf("  proxy CPU per request: %.1f us  = %.2fx the one-session snapshot\n\n", cpu_per_request,
                small_cpu_per_request > 0 ? cpu_per_request / small_cpu_per_request : 0.0);
  }

  if (wanted("connect")) {
    const LoadResult d = connect_per_request(direct, 16, seconds);
    const LoadResult a = connect_per_request(airlock, 16, seconds);
    const double d_rate = static_cast<double>(d.requests) / d.seconds;
    const double a_rate = static_cast<double>(a.requests) / a.seconds;
    std::printf("new connection + TLS handshake per request, 16 conns\n");
    std::printf("  direct   %9.0f conn/s (failures %llu)\n", d_rate, static_cast<unsigned long long>(d.failures));
    std::printf("  airlock  %9.0f conn/s (failures %llu)  = %.2fx direct\n\n", a_rate,
                static_cast<unsigned long long>(a.failures), a_rate / d_rate);
  }

  if (wanted("bulk")) {
    constexpr std::uint64_t kBulk = 64ull << 20;
    const double d = bulk(direct, kBulk);
    const double a = bulk(airlock, kBulk);
    std::printf("bulk 64 MiB chunked download, one connection\n");
    std::printf("  direct   %9.0f MiB/s\n", d);
    std::printf("  airlock  %9.0f MiB/s  = %.2fx direct\n\n", a, d > 0 ? a / d : 0.0);
  }

  if (wanted("idle")) {
    constexpr int kIdle = 1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const ProcStat before = proc_stat(child);
    std::vector<Stream> idle;
    idle.reserve(kIdle);
    int failures = 0;
    for (int i = 0; i < kIdle; ++i) {
      auto stream = open(airlock);
      if (!stream) {
        ++failures;
        continue;
      }
      stream->send(get(airlock, "/fixed?bytes=64"));
      std::string leftover;
      if (read_response(*stream, leftover).status != 200) ++failures;
      idle.push_back(std::move(*stream));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const ProcStat after = proc_stat(child);
    std::printf("%d idle intercepted connections (after one request each; failures %d)\n", kIdle, failures);
    std::printf("  proxy RSS %ld KiB -> %ld KiB: %.1f KiB per connection\n", before.rss_kib, after.rss_kib,
                static_cast<double>(after.rss_kib - before.rss_kib) / static_cast<double>(idle.size()));
  }

  for (const Child& one : {small_child, large_child}) {
    close(one.stop_fd);
    int status = 0;
    waitpid(one.pid, &status, 0);
  }
  return 0;
}
