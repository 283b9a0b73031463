#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>  // environ

#include <vfgate/common/process.hpp>

namespace vfgate::proc {

Result<pid_t> spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
    if (argv.empty()) return fail(ErrorKind::kInternal, "spawn: empty argv");
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    const std::string out = opts.output.empty() ? "/dev/null" : opts.output;
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    // Not O_CLOEXEC: glibc closes fd 1 first and the open lands on it (no dup2 then to clear
    // the flag), so the child ran with stdout closed.
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    // Nothing else: a descriptor another thread opened without O_CLOEXEC meanwhile (a file
    // stream, a library's) would stay open in the child, in QEMU for the guest's life.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (opts.new_session) flags |= POSIX_SPAWN_SETSID;
    posix_spawnattr_setflags(&attr, flags);
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid = -1;
    const int err = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (err != 0) return tl::unexpected(Error::from_errno(err, "start " + argv[0]));
    return pid;
}

Result<Watch> Watch::open(pid_t pid) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {
        return tl::unexpected(Error::from_errno(errno, "watch pid " + std::to_string(pid)));
    }
    return Watch(pid, fd);
}

Watch::Watch(Watch&& other) noexcept : pid_(other.pid_), fd_(other.fd_) { other.fd_ = -1; }

Watch& Watch::operator=(Watch&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        pid_ = other.pid_;
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

Watch::~Watch() {
    if (fd_ >= 0) ::close(fd_);
}

bool Watch::wait_exit(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    int r = 0;
    do {
        r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

std::optional<Exit> reap(pid_t pid) {
    int status = 0;
    pid_t r = 0;
    do {
        r = ::waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r != pid) return std::nullopt;
    if (WIFEXITED(status)) {
        return Exit{WEXITSTATUS(status) == 0,
                    "exited with status " + std::to_string(WEXITSTATUS(status))};
    }
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return Exit{false,
                std::string("killed by SIG") + (name != nullptr ? name : std::to_string(sig))};
}

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

std::optional<pid_t> read_pidfile(const std::string& path) {
    std::ifstream in(path);
    long pid = 0;
    if (!(in >> pid) || pid <= 0 || pid > 4194304) return std::nullopt;
    return static_cast<pid_t>(pid);
}

std::vector<std::string> cmdline(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> out;
    std::string cur;
    for (char c : all) {
        if (c == '\0') {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    return out;
}

}  // namespace vfgate::proc
