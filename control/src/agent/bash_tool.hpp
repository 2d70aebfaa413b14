// The built-in toolset's bash tool: one command, `bash -c`, in the working directory, stdout and stderr
// together through one pipe, within a time limit. The command is its own process group (session), so a
// time limit or an interrupt ends everything it started; so does its return: background processes do not
// outlive the call.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>

#include "agent/file_tools.hpp"

namespace airlock::control::agent {

class BashTool {
 public:
  inline static constexpr std::chrono::milliseconds kDefaultTimeout{120000};
  inline static constexpr std::chrono::milliseconds kMaxTimeout{600000};

  explicit BashTool(std::filesystem::path cwd) : cwd_(std::move(cwd)) {}

  // Runs `command`; blocks until it ends, its time limit passes or cancel() is called.
  ToolOutcome run(const std::string& command, std::chrono::milliseconds timeout);
  // From any thread: kills the running command's process group.
  void cancel();
  void reset();

 private:
  std::filesystem::path cwd_;
  std::mutex mutex_;
  pid_t running_ = -1;
  bool cancelled_ = false;
};

}  // namespace airlock::control::agent
