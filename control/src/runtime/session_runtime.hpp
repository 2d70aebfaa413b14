// SessionRuntime: starts a session's agent (its environment's harness) in a bubblewrap sandbox whose only
// way out is the proxy, and follows the process until everything it printed is stored (docs/runtime.md).
//
// Where a session runs is decided when it is created (place(), from the environment's metadata):
//   - airlock.harness: NAME, or runtime.default_harness -> a local sandbox;
//   - airlock.runtime: external -> nothing here; whatever starts the container fetches its sandbox_env;
//   - neither -> nothing starts; the session stays idle and its proxy token works (HTTPS_PROXY setups).
// The decision is kept in the session's doc ("runtime": {type, harness, state, ...}).
//
// A local session's life:
//   pending --launch--> running --process exited, output stored--> exited | timed_out | stopped | failed
// The session's status follows: running from the launch (session.status_running), then idle
// (session.status_idle, end_turn) after exit code 0, or terminated (session.error first, then
// session.status_terminated) after a failure, the time limit, an archive or a daemon stop. stdout lines
// become events as they arrive (up to runtime.stdout_event_bytes); stderr goes to
// DATA_DIR/sessions/<id>/stderr.log (up to runtime.stderr_log_bytes).
//
// On the host a sandbox is Airlock's own uid or, when Airlock is root, unprivileged ids of its own
// (sandbox_identity.hpp, SECURITY.md N6): its workspace belongs to them, and its session directory is open
// to them only while it runs.
//
// Everything runs on the control io_context (the store's thread). Launches are posted, so they run after
// the transaction that created the session has committed (a rolled-back session is never started).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "airlock/store/store.hpp"
#include "runtime/child_process.hpp"
#include "daemon/config.hpp"
#include "daemon/log.hpp"
#include "runtime/sandbox_command.hpp"
#include "runtime/session_cgroup.hpp"

namespace airlock::control {

struct Placement {
  enum class Kind { none, local, external };
  Kind kind = Kind::none;
  std::string harness;  // for local
};

struct RuntimeSettings {
  RuntimeConfig config;
  std::filesystem::path data_dir;        // absolute; sessions/<id>/ lives here
  std::filesystem::path proxy_socket;    // the proxy's Unix socket; empty: local sandboxes cannot start
  std::filesystem::path ca_bundle;       // what sandboxes trust
  std::filesystem::path trust_store;     // the same, for Java
  std::filesystem::path airlock_binary;  // this executable, the relay inside sandboxes
  std::vector<SandboxSpec::Hidden> hidden_paths;  // never visible in a sandbox (data dir, config file)
  // Set when Airlock runs as root (SECURITY.md N6): each sandbox runs as its own unprivileged ids from this
  // base (sandbox_identity.hpp), its session directory is handed to it while it runs, and its workspace is
  // mounted nosuid,nodev on the host. The data dir and the proxy socket must then be open to the base's
  // group (serve does that). Unset: sandboxes are Airlock's own uid, as bubblewrap maps them.
  std::optional<std::uint32_t> sandbox_uid_base;
  // Where sessions' cgroups go (serve detects it once); null when runtime.limits is none. A session whose
  // limits cannot be applied does not start.
  std::shared_ptr<const CgroupHost> cgroups;
};

struct SandboxProbe {
  std::string bwrap = "bwrap";
  std::optional<RunAs> run_as;                     // the identity sandboxes start with, if not Airlock's
  std::vector<std::filesystem::path> host_paths;  // what every sandbox mounts: bubblewrap must reach each
};

// Whether bubblewrap can create the sandbox's namespaces on this machine, as `run_as`, with `host_paths`
// mounted: nullopt when it can, else what went wrong (bubblewrap's own message). Runs bwrap once,
// synchronously (a few milliseconds).
std::optional<std::string> probe_sandbox(const SandboxProbe& probe);

class SessionRuntime {
 public:
  SessionRuntime(boost::asio::any_io_executor executor, store::Store& store, RuntimeSettings settings, Logger& log);
  ~SessionRuntime();
  SessionRuntime(const SessionRuntime&) = delete;
  SessionRuntime& operator=(const SessionRuntime&) = delete;

  // Where a session of this environment (its API JSON) runs. Throws a 400 SessionCreationError
  // (session_creation_rejected_error) for metadata that names an unknown harness or runtime.
  Placement place(const nlohmann::json& environment) const;
  // Throws a 429 SessionCreationError (session_rate_limited_error) when a local session would exceed
  // runtime.max_concurrent_sessions (running and about to launch).
  void admit(const Placement& placement) const;
  // The "runtime" object a new session's doc starts with.
  static nlohmann::json initial_doc(const Placement& placement);
  // Queues the launch of a session placed locally; it runs once the current handler has returned.
  void launch_after_commit(const std::string& session_id);
  // After DELETE /v1/sessions/{id}: once the deletion has committed, its files (workspace, stderr log)
  // go too; a running sandbox is stopped first (after_commit) and removes them when it ends.
  void remove_files_after_commit(const std::string& session_id);
  // After every committed API change: stops the sandboxes of sessions archived or deleted, and delivers
  // newly sent user messages to harnesses that keep stdin open.
  void after_commit();
  // At startup: sessions a previous process left running are ended (their sandboxes died with it), and
  // sessions still waiting for their launch are launched.
  void recover();
  // Daemon stop: kills every sandbox; each session ends as terminated once its output is stored.
  void stop_all();
  // probe_sandbox for this daemon's sandboxes: their bubblewrap, their identity, the airlock binary, the CA
  // bundle and DATA_DIR/sessions (created here if missing).
  std::optional<std::string> probe() const;
  // Sandboxes running or about to launch.
  std::size_t active() const noexcept { return sandboxes_.size() + pending_.size(); }
  std::size_t running() const noexcept { return sandboxes_.size(); }
  // Sandboxes ended since the start, by their runtime state: exited, timed_out, stopped, failed, out_of_memory.
  const std::map<std::string, std::uint64_t>& exits() const noexcept { return exits_; }
  // Called with a session id after events were appended to it (the events stream wakes on it).
  void on_events_appended(std::function<void(const std::string&)> callback) { on_events_ = std::move(callback); }
  // Called as a harness ends, before its end is recorded: the daemon writes the queued egress audit then,
  // so a client that sees the session idle or terminated finds all of its requests in GET .../egress.
  void before_session_ends(std::function<void()> callback) { before_end_ = std::move(callback); }

  // GET /v1/sessions/{id}/runtime: the placement, process state, exit code, duration and stderr tail.
  nlohmann::json describe(const store::Session& session) const;

 private:
  struct Sandbox;
  enum class StopCause { none, timeout, archived, deleted, shutdown };

  void launch(const std::string& session_id);
  boost::asio::awaitable<void> supervise(std::shared_ptr<Sandbox> sandbox);
  // The sandbox has ended: its workspace volume's files become a plain directory (workspace_volume.hpp).
  boost::asio::awaitable<void> save_workspace(Sandbox& sandbox);
  // At the start, for a session that was running when the daemon died: the same for the volume it left.
  void save_left_workspace(const std::string& session_id);
  boost::asio::awaitable<void> pump_stdout(std::shared_ptr<Sandbox> sandbox);
  boost::asio::awaitable<void> pump_stderr(std::shared_ptr<Sandbox> sandbox);
  boost::asio::awaitable<void> write_stdin(std::shared_ptr<Sandbox> sandbox);
  void queue_stdin(Sandbox& sandbox, std::string_view text);
  void store_output(Sandbox& sandbox, const std::vector<std::string>& lines);
  // stdin: json: a user.message, custom tool result or tool confirmation for a harness that ended its turn
  // starts the next (running again).
  void start_turn(Sandbox& sandbox);
  // After a user.interrupt (stdin: json): SIGINT to the harness if its turn has not ended within the grace.
  void signal_interrupt_later(const std::shared_ptr<Sandbox>& sandbox);
  void finish(Sandbox& sandbox, int exit_code, int signal);
  // Ends a session that never started (or whose harness is gone): session.error, then terminated.
  void fail_session(const std::string& session_id, const std::string& message, std::string_view state);
  void stop(Sandbox& sandbox, StopCause cause);
  void notify(const std::string& session_id) const;
  std::filesystem::path session_dir(const std::string& session_id) const;
  // DATA_DIR/sessions, created if missing: traversable by the sandboxes' group only (N6), or Airlock's own.
  void prepare_sessions_dir() const;
  // The lowest sandbox slot no running sandbox holds, if below runtime.max_concurrent_sessions.
  std::optional<int> free_slot() const;

  boost::asio::any_io_executor executor_;
  store::Store& store_;
  RuntimeSettings settings_;
  Logger& log_;
  HostLayout host_;
  std::map<std::string, std::shared_ptr<Sandbox>> sandboxes_;
  std::set<std::string> pending_;
  bool stopping_ = false;  // after stop_all(): nothing new starts (pending sessions start at the next start)
  std::function<void(const std::string&)> on_events_;
  std::function<void()> before_end_;
  std::map<std::string, std::uint64_t> exits_;
};

}  // namespace airlock::control
