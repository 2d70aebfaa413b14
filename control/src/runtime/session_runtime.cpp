// SessionRuntime; see session_runtime.hpp.
#include "runtime/session_runtime.hpp"

#include <signal.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "runtime/child_process.hpp"
#include "daemon/files.hpp"
#include "runtime/harness_output.hpp"
#include "runtime/process_tree.hpp"
#include "api/resources.hpp"
#include "sessions/sandbox_env.hpp"
#include "runtime/sandbox_identity.hpp"
#include "sessions/session_factory.hpp"
#include "runtime/workspace_mount.hpp"
#include "runtime/workspace_volume.hpp"

namespace airlock::control {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kStdinQueueMax = 4u << 20;   // unread input past this is dropped (the events stay stored)
constexpr std::size_t kStderrTailBytes = 4096;     // what GET .../runtime shows of the log
constexpr std::chrono::seconds kInterruptGrace{5};  // a harness's time to end its turn after user.interrupt
constexpr const char* kSandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string now_text() { return store::format_time(std::chrono::system_clock::now()); }

json error_event(const std::string& message) {
  return {{"type", "session.error"},
          {"error", {{"type", "unknown_error"}, {"message", message}, {"retry_status", {{"type", "terminal"}}}}}};
}

constexpr uid_t kKeepOwner = static_cast<uid_t>(-1);

// AIRLOCK_AGENT_FILE's contents: the agent as the session pinned it (the session's `agent`: model, system
// prompt, tools and their configs, MCP servers, skills), and the session's title and metadata.
json agent_definition(const store::Session& session, const json& doc) {
  return {{"type", "agent_definition"},
          {"session_id", session.id},
          {"title", doc.value("title", json(nullptr))},
          {"metadata", doc.value("metadata", json::object())},
          {"agent", doc.value("agent", json::object())}};
}

// Group and mode (and owner, unless kKeepOwner) of a path Airlock made, never through a symlink.
void set_owner_and_mode(const fs::path& path, uid_t owner, gid_t group, mode_t mode) {
  if (::lchown(path.c_str(), owner, group) != 0 || ::chmod(path.c_str(), mode) != 0) {
    throw std::system_error(errno, std::generic_category(), fmt::format("cannot set the owner and mode of {}", path.string()));
  }
}

// A session directory Airlock's alone again (0700, its group): nothing of it is reachable by a sandbox id.
void take_back(const fs::path& session_dir) noexcept {
  ::chmod(session_dir.c_str(), 0700);
  [[maybe_unused]] int ignored = ::lchown(session_dir.c_str(), kKeepOwner, ::getegid());
}

// N6: while a sandbox with ids of its own runs, its session directory is root:<its gid> 0710, so that
// bubblewrap, running as the sandbox's uid, can reach the workspace (the sandbox's own) and the initial
// events (readable by its group) in it. stderr.log stays Airlock's (0600). Taken back when it ends.
class SessionDirGrant {
 public:
  SessionDirGrant(fs::path dir, gid_t group) : dir_(std::move(dir)) { set_owner_and_mode(dir_, kKeepOwner, group, 0710); }
  ~SessionDirGrant() { take_back(dir_); }
  SessionDirGrant(const SessionDirGrant&) = delete;
  SessionDirGrant& operator=(const SessionDirGrant&) = delete;

 private:
  fs::path dir_;
};

std::string metadata_value(const json& environment, const char* key) {
  const json& metadata = environment.contains("metadata") ? environment["metadata"] : json::object();
  auto it = metadata.find(key);
  return it != metadata.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<std::string> probe_sandbox(const SandboxProbe& probe) {
  asio::io_context io;
  std::string output;
  ExitStatus status;
  try {
    SpawnOptions options{probe.bwrap,
                         {"--unshare-user", "--unshare-pid", "--unshare-net", "--uid", "65534", "--gid", "65534", "--cap-drop",
                          "ALL", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                          "--symlink", "usr/lib64", "/lib64"},
                         {std::string("PATH=") + kSandboxPath},
                         std::nullopt,
                         probe.run_as,
                         {}};
    for (std::size_t i = 0; i < probe.host_paths.size(); ++i) {
      options.arguments.insert(options.arguments.end(), {"--ro-bind", probe.host_paths[i].string(), fmt::format("/probe/{}", i)});
    }
    options.arguments.insert(options.arguments.end(), {"--", "/bin/true"});
    ChildProcess probe_process(io.get_executor(), options);
    error_code ignored;
    probe_process.stdin_pipe().close(ignored);
    auto run = [&]() -> asio::awaitable<void> {
      auto buffer = asio::dynamic_buffer(output, 4096);
      co_await asio::async_read(probe_process.stderr_pipe(), buffer, kNoThrow);
      status = co_await probe_process.wait();
    };
    asio::co_spawn(io, run(), asio::detached);
    io.run_for(std::chrono::seconds(10));
    if (!probe_process.exited()) return std::string("bubblewrap did not finish within 10 s");
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  if (status.code == 0) return std::nullopt;
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  return output.empty() ? fmt::format("bubblewrap exited with status {}", status.code) : valid_utf8(output);
}

struct SessionRuntime::Sandbox {
  explicit Sandbox(const asio::any_io_executor& executor) : deadline(executor), interrupt_grace(executor) {}
  std::string session_id;
  std::string harness;
  int timeout_seconds = 0;
  bool keep_stdin_open = false;
  bool stdin_json = false;  // stdin: json: client events as JSON lines, and the harness ends its turns
  bool turn_ended = false;  // stdin: json: the harness printed session.status_idle; the session is idle
  std::uint64_t turns_started = 0;  // stdin: json: which turn an interrupt's grace belongs to
  int slot = -1;                  // which of the sandbox ids it holds, when it has its own (N6)
  std::optional<RunAs> identity;  // its host ids when they are not Airlock's own
  // Declared before the process, so released after it is dead: the sandbox never outlives its grant or
  // its workspace's mount.
  std::optional<SessionDirGrant> session_dir_grant;
  std::optional<WorkspaceMount> workspace_mount;    // without a workspace limit
  std::optional<WorkspaceVolume> workspace_volume;  // with one
  bool workspace_full = false;                      // less than 1 MiB of it was left when the sandbox ended
  std::optional<ResourceLimits> limits;  // what its cgroup allows; nullopt: runtime.limits is none
  std::optional<SessionCgroup> cgroup;   // declared before the process: removed once the process is gone
  std::unique_ptr<ChildProcess> process;
  asio::steady_timer deadline;
  asio::steady_timer interrupt_grace;  // after a user.interrupt: SIGINT unless the turn ended by then
  StopCause stop = StopCause::none;
  SteadyClock::time_point started;
  std::int64_t delivered_seq = 0;  // user messages after this one go to stdin
  std::string stdin_queue;
  bool stdin_writing = false;
  std::ofstream stderr_log;
  std::uint64_t stderr_bytes = 0;  // everything it wrote, kept or not
  std::size_t stderr_kept = 0;
  std::uint64_t stdout_bytes = 0;  // everything it printed, stored or not
  std::uint64_t stdout_stored = 0;
  bool stdout_cut = false;  // the limit was reached (logged once)
};

SessionRuntime::SessionRuntime(asio::any_io_executor executor, store::Store& store, RuntimeSettings settings, Logger& log)
    : executor_(std::move(executor)), store_(store), settings_(std::move(settings)), log_(log) {
  if (!settings_.config.harnesses.empty()) host_ = scan_host();
}

SessionRuntime::~SessionRuntime() {
  // ChildProcess destructors kill and reap whatever is still running.
  for (auto& [id, sandbox] : sandboxes_) sandbox->process->kill();
}

Placement SessionRuntime::place(const json& environment) const {
  const std::string id = environment.value("id", "");
  const std::string runtime = metadata_value(environment, "airlock.runtime");
  const std::string harness = metadata_value(environment, "airlock.harness");
  auto reject = [](std::string_view message) {
    throw SessionCreationError(ApiError(400, "invalid_request_error", message), kRunErrorRejected);
  };
  if (runtime == "external") {
    if (!harness.empty()) {
      reject(fmt::format("environment_id: environment {} sets both airlock.runtime: external and airlock.harness: {}; an "
                         "external runtime starts its own container, so remove one of the two",
                         id, harness));
    }
    return {Placement::Kind::external, {}};
  }
  if (!runtime.empty() && runtime != "local") {
    reject(fmt::format("environment_id: environment {} has metadata airlock.runtime: \"{}\"; accepted values are local and "
                       "external",
                       id, runtime));
  }
  if (harness == kNoHarness) {
    if (runtime == "local") {
      reject(fmt::format("environment_id: environment {} sets airlock.runtime: local and airlock.harness: none; a local "
                         "runtime runs a harness, so remove one of the two",
                         id));
    }
    return {};  // the session's sandbox is the caller's own (proxy.md)
  }
  if (!harness.empty()) {
    if (!settings_.config.harnesses.contains(harness)) {
      std::string known;
      for (const auto& [name, config] : settings_.config.harnesses) known += fmt::format("{}{}", known.empty() ? "" : ", ", name);
      reject(fmt::format("environment_id: environment {} selects harness \"{}\" (metadata airlock.harness), which this "
                         "daemon's runtime.harnesses does not define ({})",
                         id, harness, known.empty() ? "none are defined" : "defined: " + known));
    }
    return {Placement::Kind::local, harness};
  }
  // A self_hosted environment's sandboxes run on the caller's infrastructure: the default harness is not
  // for them (a harness named in its metadata still runs here).
  const json config = environment.value("config", json());
  const bool self_hosted = config.is_object() && config.value("type", "") == "self_hosted";
  if (self_hosted && runtime != "local") return {};
  if (runtime == "local" && !settings_.config.default_harness) {
    reject(fmt::format("environment_id: environment {} asks for airlock.runtime: local but names no airlock.harness and "
                       "runtime.default_harness is none",
                       id));
  }
  if (settings_.config.default_harness) return {Placement::Kind::local, *settings_.config.default_harness};
  return {};
}

void SessionRuntime::admit(const Placement& placement) const {
  if (placement.kind != Placement::Kind::local) return;
  const auto limit = static_cast<std::size_t>(settings_.config.max_concurrent_sessions);
  if (active() < limit) return;
  ApiError busy(429, "rate_limit_error",
                fmt::format("{} sessions are already running here (runtime.max_concurrent_sessions = {}); retry when one "
                            "finishes",
                            active(), limit));
  throw SessionCreationError(std::move(busy), kRunErrorRateLimited);
}

json SessionRuntime::initial_doc(const Placement& placement) {
  switch (placement.kind) {
    case Placement::Kind::local: return {{"type", "local"}, {"harness", placement.harness}, {"state", "pending"}};
    case Placement::Kind::external: return {{"type", "external"}};
    case Placement::Kind::none: break;
  }
  return {{"type", "none"}};
}

void SessionRuntime::launch_after_commit(const std::string& session_id) {
  pending_.insert(session_id);
  asio::post(executor_, [this, session_id] { launch(session_id); });
}

void SessionRuntime::remove_files_after_commit(const std::string& session_id) {
  asio::post(executor_, [this, session_id] {
    if (sandboxes_.contains(session_id) || store_.get_session(session_id)) return;  // rolled back, or still running
    std::error_code ignored;
    fs::remove_all(session_dir(session_id), ignored);
  });
}

fs::path SessionRuntime::session_dir(const std::string& session_id) const {
  return settings_.data_dir / "sessions" / session_id;
}

void SessionRuntime::prepare_sessions_dir() const {
  const fs::path sessions = settings_.data_dir / "sessions";
  fs::create_directories(sessions);
  if (settings_.sandbox_uid_base) {
    set_owner_and_mode(sessions, kKeepOwner, sandbox_group(*settings_.sandbox_uid_base), 0710);
  } else {
    fs::permissions(sessions, fs::perms::owner_all, fs::perm_options::replace);
  }
}

std::optional<int> SessionRuntime::free_slot() const {
  std::vector<bool> taken(static_cast<std::size_t>(settings_.config.max_concurrent_sessions), false);
  for (const auto& [id, sandbox] : sandboxes_) {
    if (sandbox->slot >= 0 && static_cast<std::size_t>(sandbox->slot) < taken.size()) taken[static_cast<std::size_t>(sandbox->slot)] = true;
  }
  auto free = std::find(taken.begin(), taken.end(), false);
  if (free == taken.end()) return std::nullopt;
  return static_cast<int>(free - taken.begin());
}

std::optional<std::string> SessionRuntime::probe() const {
  SandboxProbe probe{settings_.config.bwrap, std::nullopt, {}};
  if (settings_.sandbox_uid_base) probe.run_as = sandbox_identity(*settings_.sandbox_uid_base, 0);
  try {
    prepare_sessions_dir();
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  for (const fs::path& path : {settings_.airlock_binary, settings_.ca_bundle, settings_.trust_store, settings_.data_dir / "sessions"}) {
    if (!path.empty()) probe.host_paths.push_back(path);
  }
  return probe_sandbox(probe);
}

void SessionRuntime::notify(const std::string& session_id) const {
  if (on_events_) on_events_(session_id);
}

void SessionRuntime::launch(const std::string& session_id) {
  pending_.erase(session_id);
  if (stopping_) return;  // still pending in its doc: recover() launches it at the next start
  auto found = store_.get_session(session_id);
  if (!found) return;  // its transaction rolled back, or it was deleted before it started
  store::Session session = std::move(found).value();
  json doc = parse_doc(session.doc);
  json runtime = doc.value("runtime", json::object());
  if (runtime.value("type", "") != "local" || runtime.value("state", "") != "pending") return;
  if (session.archived_at) {
    fail_session(session_id, "the session was archived before its sandbox started", "stopped");
    return;
  }
  const std::string harness_name = runtime.value("harness", "");
  auto harness = settings_.config.harnesses.find(harness_name);
  if (harness == settings_.config.harnesses.end()) {
    fail_session(session_id,
                 fmt::format("harness \"{}\" is not defined in this daemon's runtime.harnesses; the session could not start",
                             harness_name),
                 "failed");
    return;
  }
  if (settings_.proxy_socket.empty()) {
    fail_session(session_id, "this daemon has no proxy socket, so no sandbox can reach the proxy; the session could not start",
                 "failed");
    return;
  }

  auto sandbox = std::make_shared<Sandbox>(executor_);
  sandbox->session_id = session_id;
  sandbox->harness = harness_name;
  sandbox->timeout_seconds = harness->second.timeout_seconds;
  sandbox->keep_stdin_open = harness->second.keep_stdin_open;
  sandbox->stdin_json = harness->second.stdin_json;
  sandbox->limits = harness_limits(settings_.config, harness->second);
  if (sandbox->limits && (!settings_.cgroups || !settings_.cgroups->usable())) {
    fail_session(session_id,
                 fmt::format("the sandbox could not start: its limits (runtime.limits) cannot be applied: {}",
                             settings_.cgroups ? settings_.cgroups->problem() : "this daemon has no cgroups set up"),
                 "failed");
    return;
  }
  if (sandbox->limits && sandbox->limits->workspace_bytes != 0 && !settings_.sandbox_uid_base) {
    fail_session(session_id,
                 "the sandbox could not start: its workspace limit (runtime.limits.workspace_bytes) cannot be applied: "
                 "only a daemon run as root can mount a volume for it; set runtime.limits.workspace_bytes: none to run "
                 "without it",
                 "failed");
    return;
  }
  if (settings_.sandbox_uid_base) {
    std::optional<int> slot = free_slot();
    if (!slot) {
      // Only after a restart with a lower limit: more sessions were waiting than there are sandbox ids.
      fail_session(session_id,
                   fmt::format("the sandbox could not start: all {} sandbox ids are in use (runtime.max_concurrent_sessions)",
                               settings_.config.max_concurrent_sessions),
                   "failed");
      return;
    }
    sandbox->slot = *slot;
    sandbox->identity = sandbox_identity(*settings_.sandbox_uid_base, *slot);
  }
  std::string initial_input;
  try {
    const fs::path dir = session_dir(session_id);
    prepare_sessions_dir();
    fs::create_directories(dir / "workspace");
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    if (const std::optional<RunAs>& identity = sandbox->identity) {
      sandbox->session_dir_grant.emplace(dir, identity->gid);
      set_owner_and_mode(dir / "workspace", identity->uid, identity->gid, 0700);
    } else {
      fs::permissions(dir / "workspace", fs::perms::owner_all, fs::perm_options::replace);
    }

    // The initial events: the file holds them all; stdin gets the text of the user messages (stdin: json,
    // every client event as a line).
    json events = json::array();
    store::EventQuery query;
    query.limit = 1000;
    for (;;) {
      store::Page<store::Event> page = take(store_.list_events(session_id, query), "session", session_id);
      for (const store::Event& event : page.items) {
        json item = event_json(event);
        if (sandbox->stdin_json) {
          if (is_turn_input(event.type)) initial_input += stdin_json_line(item);
        } else if (event.type == "user.message") {
          initial_input += stdin_text(item);
        }
        events.push_back(std::move(item));
        sandbox->delivered_seq = event.seq;
      }
      if (!page.next) break;
      query.after_seq = page.items.back().seq;
    }
    write_file(dir / "initial_events.json", events.dump(), 0600);
    // The agent the session runs: what a harness needs to act as it (docs/runtime.md, AIRLOCK_AGENT_FILE).
    write_file(dir / "agent.json", agent_definition(session, doc).dump(), 0600);
    if (sandbox->identity) {
      set_owner_and_mode(dir / "initial_events.json", kKeepOwner, sandbox->identity->gid, 0640);
      set_owner_and_mode(dir / "agent.json", kKeepOwner, sandbox->identity->gid, 0640);
    }
    sandbox->stderr_log.open(dir / "stderr.log", std::ios::binary | std::ios::trunc);
    ::chmod((dir / "stderr.log").c_str(), 0600);

    std::map<std::string, std::string> env = {
        {"PATH", kSandboxPath}, {"HOME", kSandboxWorkspace}, {"LANG", "C.UTF-8"}, {"TMPDIR", "/tmp"}, {"USER", "nobody"}};
    for (const auto& [name, value] : harness->second.env) env[name] = value;
    for (auto& [name, value] : sandbox_variables(store_, session, fmt::format("http://127.0.0.1:{}", kRelayPort),
                                                           {kSandboxCaBundle, kSandboxTrustStore})) {
      env[name] = std::move(value);
    }
    env["AIRLOCK_SESSION_ID"] = session_id;
    env["AIRLOCK_EVENTS_FILE"] = kSandboxEventsFile;
    env["AIRLOCK_AGENT_FILE"] = kSandboxAgentFile;

    SandboxSpec spec;
    spec.bwrap = settings_.config.bwrap;
    spec.workspace = dir / "workspace";
    spec.proxy_socket = settings_.proxy_socket;
    spec.airlock_binary = settings_.airlock_binary;
    spec.ca_bundle = settings_.ca_bundle;
    spec.trust_store = settings_.trust_store;
    spec.events_file = dir / "initial_events.json";
    spec.agent_file = dir / "agent.json";
    spec.read_only_paths = harness->second.read_only_paths;
    spec.hidden_paths = settings_.hidden_paths;
    spec.command = harness->second.command;
    spec.env = std::move(env);
    BwrapCommand bwrap = bwrap_command(spec, host_);

    SpawnOptions options;
    options.program = settings_.config.bwrap;
    options.arguments = {"--args", "3", "--"};
    options.arguments.insert(options.arguments.end(), bwrap.command.begin(), bwrap.command.end());
    options.environment = {std::string("PATH=") + kSandboxPath};
    std::string packed;
    for (const std::string& word : bwrap.options) {
      packed += word;
      packed += '\0';
    }
    options.fd3 = std::move(packed);
    options.run_as = sandbox->identity;
    if (sandbox->limits) {
      sandbox->cgroup.emplace(*settings_.cgroups, session_id, *sandbox->limits);
      options.join_cgroups = sandbox->cgroup->join_descriptors();
    }
    if (sandbox->identity && sandbox->limits && sandbox->limits->workspace_bytes != 0) {
      try {
        sandbox->workspace_volume.emplace(WorkspaceVolume::create(dir / "workspace.img", dir / "workspace",
                                                                  sandbox->limits->workspace_bytes, sandbox->identity->uid,
                                                                  sandbox->identity->gid));
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("its workspace limit (runtime.limits.workspace_bytes) cannot be applied: {}; set "
                                             "runtime.limits.workspace_bytes: none to run without it",
                                             e.what()));
      }
    } else if (sandbox->identity) {
      try {
        sandbox->workspace_mount.emplace(dir / "workspace");  // before bubblewrap, which mounts it as it is
      } catch (const std::system_error& e) {
        // A root without CAP_SYS_ADMIN (some containers): the workspace's files still belong to the
        // sandbox's uid, which is all a setuid bit there could ever give.
        log_.warn("session {}: {}; its workspace stays a plain directory of uid {}", session_id, e.what(),
                  sandbox->identity->uid);
      }
    }
    sandbox->process = std::make_unique<ChildProcess>(executor_, options);
  } catch (const std::exception& e) {
    if (sandbox->workspace_volume) {
      // Nothing ran in it: the empty volume goes.
      const fs::path image = sandbox->workspace_volume->image();
      sandbox->workspace_volume.reset();
      std::error_code ignored;
      fs::remove(image, ignored);
    }
    fail_session(session_id, fmt::format("the sandbox could not start: {}", e.what()), "failed");
    return;
  }
  sandbox->started = SteadyClock::now();

  try {
    store::Store::Transaction transaction(store_);
    doc["runtime"]["state"] = "running";
    doc["runtime"]["limits"] = sandbox->limits ? json{{"memory_bytes", sandbox->limits->memory_bytes},
                                                      {"pids", sandbox->limits->pids},
                                                      {"cpus", sandbox->limits->cpus},
                                                      {"workspace_bytes", sandbox->limits->workspace_bytes != 0
                                                                              ? json(sandbox->limits->workspace_bytes)
                                                                              : json(nullptr)}}
                                               : json(nullptr);
    doc["runtime"]["started_at"] = now_text();
    take(store_.update_session(session_id, doc.dump()), "session", session_id);
    take(store_.set_session_status(session_id, "running"), "session", session_id);
    (void)append_events(store_, session_id, json::array({{{"type", "session.status_running"}}}));
    if (auto ec = transaction.commit()) throw std::system_error(ec);
  } catch (const std::exception& e) {
    log_.error("session {}: recording its start failed: {}", session_id, e.what());
    return;  // the Sandbox goes out of scope: its process is killed and reaped
  }
  sandboxes_[session_id] = sandbox;
  notify(session_id);
  log_.info("session {} started harness={} pid={} timeout_s={}", session_id, sandbox->harness, sandbox->process->pid(),
            sandbox->timeout_seconds);
  queue_stdin(*sandbox, initial_input);
  asio::co_spawn(executor_, supervise(sandbox), [this, session_id](const std::exception_ptr& error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log_.error("session {}: supervising its sandbox failed: {}", session_id, e.what());
    }
    // Never leave a session "running" with nobody watching it: kill the sandbox (the ChildProcess
    // destructor reaps it) and end the session.
    if (auto it = sandboxes_.find(session_id); it != sandboxes_.end()) {
      it->second->process->kill();
      sandboxes_.erase(it);
      fail_session(session_id, "an internal error stopped the supervision of the harness; the daemon's log has the cause",
                   "failed");
    }
  });
}

asio::awaitable<void> SessionRuntime::supervise(std::shared_ptr<Sandbox> sandbox) {
  using namespace asio::experimental::awaitable_operators;
  sandbox->deadline.expires_after(std::chrono::seconds(sandbox->timeout_seconds));
  sandbox->deadline.async_wait([this, weak = std::weak_ptr<Sandbox>(sandbox)](error_code ec) {
    if (ec) return;
    if (auto alive = weak.lock()) stop(*alive, StopCause::timeout);
  });
  // The process's exit and the end of both pipes: the session's status changes only after everything it
  // printed is stored. Each wait ends by the time limit at the latest (the sandbox is killed then, which
  // closes its pipes).
  ExitStatus exit = co_await (pump_stdout(sandbox) && pump_stderr(sandbox) && sandbox->process->wait());
  sandbox->deadline.cancel();
  sandbox->interrupt_grace.cancel();
  error_code ignored;
  sandbox->process->stdin_pipe().close(ignored);
  if (sandbox->workspace_volume) co_await save_workspace(*sandbox);
  finish(*sandbox, exit.code, exit.signal);
}

asio::awaitable<void> SessionRuntime::save_workspace(Sandbox& sandbox) {
  WorkspaceVolume volume = std::move(*sandbox.workspace_volume);
  sandbox.workspace_volume.reset();
  struct statvfs space {};
  sandbox.workspace_full = ::statvfs(volume.mount_point().c_str(), &space) == 0 && space.f_bavail * space.f_frsize < (1U << 20);
  if (!store_.get_session(sandbox.session_id)) co_return;  // deleted: its files go with it (finish)
  try {
    co_await control::save_workspace(executor_, std::move(volume));
  } catch (const std::exception& e) {
    log_.error("session {}: its workspace stays in {}, as copying it out failed: {}", sandbox.session_id,
               (session_dir(sandbox.session_id) / "workspace.img").string(), e.what());
  }
}

void SessionRuntime::save_left_workspace(const std::string& session_id) {
  const fs::path dir = session_dir(session_id);
  std::error_code ec;
  if (!fs::exists(dir / "workspace.img", ec)) return;
  try {
    WorkspaceVolume volume = WorkspaceVolume::mount(dir / "workspace.img", dir / "workspace");
    asio::co_spawn(executor_, control::save_workspace(executor_, std::move(volume)),
                   [this, session_id](const std::exception_ptr& error) {
                     if (!error) {
                       log_.info("session {}: saved the workspace its sandbox left in a volume", session_id);
                       return;
                     }
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       log_.error("session {}: its workspace stays in its workspace.img, as copying it out failed: {}",
                                  session_id, e.what());
                     }
                   });
  } catch (const std::exception& e) {
    log_.error("session {}: its workspace stays in its workspace.img, as mounting it failed: {}", session_id, e.what());
  }
}

asio::awaitable<void> SessionRuntime::pump_stdout(std::shared_ptr<Sandbox> sandbox) {
  LineSplitter splitter;
  std::vector<char> buffer(kReadChunk);
  for (;;) {
    auto [ec, n] = co_await sandbox->process->stdout_pipe().async_read_some(asio::buffer(buffer), kNoThrow);
    // Past runtime.stdout_event_bytes the output is counted, not stored: a harness cannot fill the disk
    // with events. (It keeps reading, so the harness never blocks on a full pipe.)
    const std::size_t room = settings_.config.stdout_event_bytes - std::min<std::uint64_t>(sandbox->stdout_stored, settings_.config.stdout_event_bytes);
    const std::size_t take = std::min(n, room);
    sandbox->stdout_bytes += n;
    sandbox->stdout_stored += take;
    if (take < n && !sandbox->stdout_cut) {
      sandbox->stdout_cut = true;
      log_.warn("session {}: the harness printed more than runtime.stdout_event_bytes ({}); the rest is counted, not stored",
                sandbox->session_id, settings_.config.stdout_event_bytes);
    }
    std::vector<std::string> lines;
    if (take > 0) splitter.feed(std::string_view(buffer.data(), take), lines);
    if (ec) {
      if (auto last = splitter.finish()) lines.push_back(std::move(*last));
    }
    if (!lines.empty()) store_output(*sandbox, lines);
    if (ec) co_return;
  }
}

asio::awaitable<void> SessionRuntime::pump_stderr(std::shared_ptr<Sandbox> sandbox) {
  std::vector<char> buffer(kReadChunk);
  const std::size_t limit = settings_.config.stderr_log_bytes;
  for (;;) {
    auto [ec, n] = co_await sandbox->process->stderr_pipe().async_read_some(asio::buffer(buffer), kNoThrow);
    sandbox->stderr_bytes += n;
    std::size_t keep = std::min(n, limit - sandbox->stderr_kept);
    if (keep > 0 && sandbox->stderr_log) {
      sandbox->stderr_log.write(buffer.data(), static_cast<std::streamsize>(keep));
      sandbox->stderr_log.flush();
      sandbox->stderr_kept += keep;
    }
    if (ec) co_return;
  }
}

void SessionRuntime::store_output(Sandbox& sandbox, const std::vector<std::string>& lines) {
  json events = json::array();
  bool turn_ends = false;
  bool has_usage = false;
  for (const std::string& line : lines) {
    if (sandbox.stdin_json) {
      if (auto idle = turn_end_from_harness_line(line)) {
        events.push_back(std::move(*idle));
        turn_ends = true;
        continue;
      }
    }
    if (auto event = event_from_harness_line(line)) {
      has_usage = has_usage || event->value("type", "") == "span.model_request_end";
      events.push_back(std::move(*event));
    }
  }
  if (events.empty()) return;
  try {
    store::Store::Transaction transaction(store_);
    (void)append_events(store_, sandbox.session_id, events);
    if (has_usage) {  // the model's token counts, added up in the session's usage (docs/runtime.md, "Usage")
      json doc = parse_doc(take(store_.get_session(sandbox.session_id), "session", sandbox.session_id).doc);
      json usage = doc.value("usage", json::object());
      for (const json& event : events) add_model_usage(usage, event);
      doc["usage"] = std::move(usage);
      take(store_.update_session(sandbox.session_id, doc.dump()), "session", sandbox.session_id);
    }
    if (turn_ends) take(store_.set_session_status(sandbox.session_id, "idle"), "session", sandbox.session_id);
    if (auto ec = transaction.commit()) throw std::system_error(ec);
    if (turn_ends) sandbox.turn_ended = true;
  } catch (const std::exception& e) {
    // The session was deleted under it (after_commit stops the sandbox), or the store failed.
    log_.warn("session {}: {} harness event(s) not stored: {}", sandbox.session_id, events.size(), e.what());
    return;
  }
  notify(sandbox.session_id);
}

void SessionRuntime::start_turn(Sandbox& sandbox) {
  try {
    store::Store::Transaction transaction(store_);
    take(store_.set_session_status(sandbox.session_id, "running"), "session", sandbox.session_id);
    (void)append_events(store_, sandbox.session_id, json::array({{{"type", "session.status_running"}}}));
    if (auto ec = transaction.commit()) throw std::system_error(ec);
    sandbox.turn_ended = false;
    ++sandbox.turns_started;
  } catch (const std::exception& e) {
    log_.warn("session {}: starting its next turn failed: {}", sandbox.session_id, e.what());
  }
  notify(sandbox.session_id);
}

void SessionRuntime::queue_stdin(Sandbox& sandbox, std::string_view text) {
  auto& pipe = sandbox.process->stdin_pipe();
  if (!pipe.is_open()) return;
  if (sandbox.stdin_queue.size() + text.size() > kStdinQueueMax) {
    log_.warn("session {}: the harness is not reading stdin; {} bytes of input dropped (the events are stored)",
              sandbox.session_id, text.size());
    return;
  }
  sandbox.stdin_queue += text;
  if (sandbox.stdin_writing) return;
  sandbox.stdin_writing = true;
  asio::co_spawn(executor_, write_stdin(sandboxes_.at(sandbox.session_id)), asio::detached);
}

asio::awaitable<void> SessionRuntime::write_stdin(std::shared_ptr<Sandbox> sandbox) {
  auto& pipe = sandbox->process->stdin_pipe();
  // A harness that never reads its input blocks this write until the session ends (the pipe is closed
  // then); nothing else waits on it.
  while (!sandbox->stdin_queue.empty() && pipe.is_open()) {
    std::string chunk = std::exchange(sandbox->stdin_queue, {});
    auto [ec, n] = co_await asio::async_write(pipe, asio::buffer(chunk), kNoThrow);
    if (ec) {
      sandbox->stdin_queue.clear();
      break;
    }
  }
  sandbox->stdin_writing = false;
  error_code ignored;
  if (!sandbox->keep_stdin_open) pipe.close(ignored);  // EOF: the harness has all of its input
}

void SessionRuntime::stop(Sandbox& sandbox, StopCause cause) {
  if (sandbox.stop != StopCause::none) return;
  sandbox.stop = cause;
  sandbox.process->kill();
}

void SessionRuntime::after_commit() {
  std::vector<std::shared_ptr<Sandbox>> running;
  for (auto& [id, sandbox] : sandboxes_) running.push_back(sandbox);
  for (const auto& sandbox : running) {
    auto session = store_.get_session(sandbox->session_id);
    if (!session) {
      if (session.error() == store::Errc::not_found) stop(*sandbox, StopCause::deleted);
      continue;
    }
    if (session.value().archived_at) {
      stop(*sandbox, StopCause::archived);
      continue;
    }
    if (!sandbox->keep_stdin_open || !sandbox->process->stdin_pipe().is_open()) continue;
    store::EventQuery query;
    query.limit = 1000;
    query.after_seq = sandbox->delivered_seq;
    query.types = sandbox->stdin_json ? turn_input_types() : std::vector<std::string>{"user.message"};
    auto page = store_.list_events(sandbox->session_id, query);
    if (!page) continue;
    for (const store::Event& event : page.value().items) {
      if (!sandbox->stdin_json) {
        queue_stdin(*sandbox, stdin_text(event_json(event)));
      } else {
        if (sandbox->turn_ended && starts_turn(event.type)) start_turn(*sandbox);
        queue_stdin(*sandbox, stdin_json_line(event_json(event)));
        if (event.type == "user.interrupt" && !sandbox->turn_ended) signal_interrupt_later(sandbox);
      }
      sandbox->delivered_seq = event.seq;
    }
  }
}

void SessionRuntime::signal_interrupt_later(const std::shared_ptr<Sandbox>& sandbox) {
  sandbox->interrupt_grace.expires_after(kInterruptGrace);
  sandbox->interrupt_grace.async_wait([this, weak = std::weak_ptr<Sandbox>(sandbox), turn = sandbox->turns_started](error_code ec) {
    auto alive = weak.lock();
    // Only for the turn it interrupted, if that turn is still going.
    if (ec || !alive || alive->turns_started != turn || alive->turn_ended || alive->process->exited()) return;
    // The relay inside the sandbox forwards SIGINT to the harness; bubblewrap itself would die of it.
    for (pid_t pid : descendants(alive->process->pid())) {
      const std::vector<std::string> argv = command_line(pid);
      if (argv.size() >= 2 && argv[0] == kSandboxRelayBinary && argv[1] == "relay") {
        ::kill(pid, SIGINT);
        log_.info("session {}: its harness had not ended its turn {} s after user.interrupt; sent it SIGINT",
                  alive->session_id, kInterruptGrace.count());
        return;
      }
    }
  });
}

void SessionRuntime::finish(Sandbox& sandbox, int exit_code, int signal) {
  const std::string id = sandbox.session_id;
  if (before_end_) before_end_();
  const double duration = std::chrono::duration<double>(SteadyClock::now() - sandbox.started).count();
  std::string state = "exited";
  std::string message;
  const std::string logs = fmt::format("; its stderr is in GET /v1/sessions/{}/runtime", id);
  switch (sandbox.stop) {
    case StopCause::timeout:
      state = "timed_out";
      message = fmt::format("the harness {} ran past its time limit of {} s (runtime.harnesses.{}.timeout_seconds) and was "
                            "killed{}",
                            sandbox.harness, sandbox.timeout_seconds, sandbox.harness, logs);
      break;
    case StopCause::archived:
    case StopCause::deleted: state = "stopped"; break;
    case StopCause::shutdown:
      state = "stopped";
      message = "airlock stopped while the harness was running; its sandbox was killed";
      break;
    case StopCause::none:
      if (signal != 0) {
        state = "failed";
        message = fmt::format("the harness {} was killed by signal {}{}", sandbox.harness, signal, logs);
      } else if (exit_code != 0) {
        state = "failed";
        message = fmt::format("the harness {} exited with status {}{}", sandbox.harness, exit_code, logs);
      }
      break;
  }
  const CgroupUsage usage = sandbox.cgroup ? sandbox.cgroup->usage() : CgroupUsage{};
  if (usage.oom_kills > 0 && sandbox.stop == StopCause::none && !message.empty()) {
    // What killed it was the memory limit: say which, and how much it reached.
    state = "out_of_memory";
    message = fmt::format("the harness {} ran out of memory: the kernel killed {} of its processes at its limit of {} bytes "
                          "(runtime.harnesses.{}.limits.memory_bytes, or runtime.limits.memory_bytes){}{}",
                          sandbox.harness, usage.oom_kills, sandbox.limits->memory_bytes, sandbox.harness,
                          usage.peak_bytes ? fmt::format("; its peak was {} bytes", *usage.peak_bytes) : "", logs);
  }
  if (sandbox.workspace_full && !message.empty()) {
    message += fmt::format("; its workspace was full (runtime.harnesses.{}.limits.workspace_bytes, or "
                           "runtime.limits.workspace_bytes: {} bytes)",
                           sandbox.harness, sandbox.limits->workspace_bytes);
  }
  const bool idle = sandbox.stop == StopCause::none && message.empty();
  ++exits_[state];
  sandbox.stderr_log.close();
  // The sandbox is dead: its workspace is a plain directory again, and its session directory Airlock's alone.
  sandbox.workspace_mount.reset();
  sandbox.session_dir_grant.reset();

  auto found = store_.get_session(id);
  if (!found) {
    // Deleted: its workspace and logs go with it.
    std::error_code ignored;
    fs::remove_all(session_dir(id), ignored);
  } else {
    try {
      json doc = parse_doc(found.value().doc);
      json& runtime = doc["runtime"];
      runtime["state"] = state;
      runtime["ended_at"] = now_text();
      runtime["exit_code"] = signal == 0 ? json(exit_code) : json(nullptr);
      runtime["signal"] = signal == 0 ? json(nullptr) : json(signal);
      runtime["duration_seconds"] = duration;
      runtime["stderr_bytes"] = sandbox.stderr_bytes;
      runtime["stdout_bytes"] = sandbox.stdout_bytes;
      runtime["stdout_stored_bytes"] = sandbox.stdout_stored;
      runtime["oom_kills"] = usage.oom_kills;
      runtime["memory_peak_bytes"] = usage.peak_bytes ? json(*usage.peak_bytes) : json(nullptr);
      doc["stats"]["duration_seconds"] = duration;
      doc["stats"]["active_seconds"] = duration;
      json events = json::array();
      if (!message.empty()) events.push_back(error_event(message));
      if (!idle) {
        events.push_back({{"type", "session.status_terminated"}});
      } else if (!sandbox.turn_ended) {  // a harness that ended its turn already said idle
        events.push_back({{"type", "session.status_idle"}, {"stop_reason", {{"type", "end_turn"}}}, {"stop_details", nullptr}});
      }
      store::Store::Transaction transaction(store_);
      take(store_.update_session(id, doc.dump()), "session", id);
      take(store_.set_session_status(id, idle ? "idle" : "terminated"), "session", id);
      if (!events.empty()) (void)append_events(store_, id, events);
      if (auto ec = transaction.commit()) throw std::system_error(ec);
    } catch (const std::exception& e) {
      log_.error("session {}: recording the end of its harness failed: {}", id, e.what());
    }
  }
  log_.info("session {} harness={} ended state={} exit_code={} signal={} duration_s={:.2f} stderr_bytes={}", id,
            sandbox.harness, state, signal == 0 ? exit_code : -1, signal, duration, sandbox.stderr_bytes);
  sandboxes_.erase(id);
  notify(id);
}

void SessionRuntime::fail_session(const std::string& session_id, const std::string& message, std::string_view state) {
  try {
    store::Store::Transaction transaction(store_);
    auto found = store_.get_session(session_id);
    if (!found) return;
    json doc = parse_doc(found.value().doc);
    doc["runtime"]["state"] = state;
    doc["runtime"]["ended_at"] = now_text();
    take(store_.update_session(session_id, doc.dump()), "session", session_id);
    take(store_.set_session_status(session_id, "terminated"), "session", session_id);
    (void)append_events(store_, session_id, json::array({error_event(message), {{"type", "session.status_terminated"}}}));
    if (auto ec = transaction.commit()) throw std::system_error(ec);
  } catch (const std::exception& e) {
    log_.error("session {}: recording that it could not run failed: {}", session_id, e.what());
    return;
  }
  log_.warn("session {} did not run: {}", session_id, message);
  notify(session_id);
}

void SessionRuntime::recover() {
  auto collect = [this](std::vector<std::string> statuses, bool include_archived) {
    std::vector<store::Session> found;
    store::SessionQuery query;
    query.limit = 100;
    query.include_archived = include_archived;
    query.statuses = std::move(statuses);
    query.ascending = true;
    for (;;) {
      auto page = store_.list_sessions(query);
      if (!page) break;
      found.insert(found.end(), page.value().items.begin(), page.value().items.end());
      if (!page.value().next) break;
      query.after = page.value().next;
    }
    return found;
  };
  for (const store::Session& session : collect({"running"}, true)) {
    take_back(session_dir(session.id));  // handed to a sandbox that died with the previous process
    if (settings_.cgroups) settings_.cgroups->remove_group(session.id);  // and its cgroup, empty since
    save_left_workspace(session.id);  // and its workspace's volume, unmounted at the start (serve.cpp)
    fail_session(session.id,
                 "airlock stopped while this session's harness was running (the daemon restarted); the harness was "
                 "stopped with it",
                 "lost");
  }
  for (const store::Session& session : collect({"idle"}, false)) {
    json runtime = parse_doc(session.doc).value("runtime", json::object());
    if (runtime.value("type", "") == "local" && runtime.value("state", "") == "pending") launch_after_commit(session.id);
  }
}

void SessionRuntime::stop_all() {
  stopping_ = true;
  for (auto& [id, sandbox] : sandboxes_) stop(*sandbox, StopCause::shutdown);
}

json SessionRuntime::describe(const store::Session& session) const {
  json runtime = parse_doc(session.doc).value("runtime", json{{"type", "none"}});
  auto field = [&](const char* key) { return runtime.contains(key) ? runtime[key] : json(nullptr); };
  json out = {{"type", "session_runtime"},
              {"session_id", session.id},
              {"runtime", runtime.value("type", "none")},
              {"harness", field("harness")},
              {"state", field("state")},
              {"started_at", field("started_at")},
              {"ended_at", field("ended_at")},
              {"exit_code", field("exit_code")},
              {"signal", field("signal")},
              {"duration_seconds", field("duration_seconds")},
              {"limits", field("limits")},
              {"oom_kills", field("oom_kills")},
              {"memory_peak_bytes", field("memory_peak_bytes")}};
  // The tail of the stderr log (a running harness's log grows as it writes).
  std::string tail;
  std::uint64_t bytes = runtime.value("stderr_bytes", std::uint64_t{0});
  if (auto it = sandboxes_.find(session.id); it != sandboxes_.end()) bytes = it->second->stderr_bytes;
  std::ifstream log(session_dir(session.id) / "stderr.log", std::ios::binary);
  if (log) {
    log.seekg(0, std::ios::end);
    const std::streamoff size = log.tellg();
    const std::streamoff from = std::max<std::streamoff>(0, size - static_cast<std::streamoff>(kStderrTailBytes));
    log.seekg(from);
    tail.assign(std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>());
  }
  out["stderr"] = {{"bytes", bytes},
                   {"truncated", bytes > settings_.config.stderr_log_bytes},
                   {"tail", valid_utf8(tail)}};
  std::uint64_t stdout_bytes = runtime.value("stdout_bytes", std::uint64_t{0});
  std::uint64_t stdout_stored = runtime.value("stdout_stored_bytes", std::uint64_t{0});
  if (auto it = sandboxes_.find(session.id); it != sandboxes_.end()) {
    stdout_bytes = it->second->stdout_bytes;
    stdout_stored = it->second->stdout_stored;
  }
  out["stdout"] = {{"bytes", stdout_bytes}, {"truncated", stdout_stored < stdout_bytes}};
  return out;
}

}  // namespace airlock::control
