#pragma once
// Processes for vfgate's control processes (vfgated, vm-launcher): spawning with posix_spawn (never
// a shell), waiting with a deadline through a pidfd, which also works for a process that is not our
// child (an adopted QEMU).
#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include <vfgate/common/error.hpp>

namespace vfgate::proc {

struct SpawnOptions {
    std::string output;  // file for stdout and stderr (appended); empty: /dev/null
    bool new_session = false;
};

Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts);

// A process watched through a pidfd. Owns the descriptor.
class Watch {
  public:
    static Result<Watch> open(pid_t pid);
    Watch(Watch&& other) noexcept;
    Watch& operator=(Watch&& other) noexcept;
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch();

    pid_t pid() const { return pid_; }
    int fd() const { return fd_; }
    // True once the process has exited (within the timeout).
    bool wait_exit(std::chrono::milliseconds timeout) const;

  private:
    Watch(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
    pid_t pid_ = -1;
    int fd_ = -1;
};

// How a child ended, as waitpid says: "exited with status 1", "killed by SIGKILL".
struct Exit {
    bool clean = false;  // exited with status 0
    std::string text;
};
// Reaps our child `pid` (blocking); nullopt when it is not our child (adopted).
std::optional<Exit> reap(pid_t pid);

bool alive(pid_t pid);
// The pid in a pidfile; nullopt when there is none or it is not a number.
std::optional<pid_t> read_pidfile(const std::string& path);
// The process's argv (from /proc/PID/cmdline); empty when it is gone.
std::vector<std::string> cmdline(pid_t pid);

}  // namespace vfgate::proc
