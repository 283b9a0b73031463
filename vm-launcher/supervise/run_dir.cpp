// The run directory of a guest (run_dir.hpp).
#include "run_dir.hpp"

#include <array>
#include <cerrno>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sys/file.h>
#include <unistd.h>

#include <vfgate/common/file.hpp>
#include <vfgate/common/process.hpp>

namespace vfgate::vm::rundir {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr std::size_t kMaxStateFile = 1 << 20;

std::string stamp() {
    std::array<char, 32> buf{};
    const std::time_t t = ::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    if (std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
    return buf.data();
}

}  // namespace

std::int64_t now_s() { return static_cast<std::int64_t>(::time(nullptr)); }

void request_stop(const RunPaths& p, const std::string& how, std::int64_t valid_for_s) {
    std::ofstream(p.dir + "/" + kStopMarker) << how << " " << now_s() + valid_for_s << "\n";
}

bool stop_requested(const RunPaths& p) {
    const std::string path = p.dir + "/" + kStopMarker;
    std::ifstream in(path);
    if (!in) return false;
    std::string how;
    std::int64_t deadline = 0;
    in >> how >> deadline;
    // No deadline: a marker of an older vfgate-vm, or one being written; honoured.
    if (!in || deadline == 0 || now_s() <= deadline) return true;
    ::unlink(path.c_str());
    log_line(p, "a " + how + " request that did not finish (its deadline passed " +
                    std::to_string(now_s() - deadline) + " s ago) no longer holds: removed");
    return false;
}

// Appends a line to the guest's supervisor log (also when written by `stop` or `kill`).
void log_line(const RunPaths& p, const std::string& what) {
    std::ofstream(p.log, std::ios::app) << stamp() << " " << what << "\n";
}

Result<Json> read_json(const std::string& path) {
    auto text = read_regular_file(path, kMaxStateFile);
    if (!text) return tl::unexpected(std::move(text.error()).context(path));
    Json j = Json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return fail(ErrorKind::kConflict, path + ": not a vfgate-vm file (not a JSON object)");
    }
    return j;
}

void write_json(const std::string& path, const Json& j) {
    // Whole or not at all: a failed write (a full /run) leaves the previous file as it was, and
    // the next write tries again.
    if (auto r = write_file_atomic(path, j.dump(2) + "\n"); !r) {
        std::cerr << "vfgate-vm: " << r.error().to_string() << "\n";
    }
}

int supervisor_pid(const RunPaths& p) {
    const int fd = ::open(p.supervisor_pidfile.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int pid = 0;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        pid = proc::read_pidfile(p.supervisor_pidfile).value_or(0);
    }
    ::close(fd);
    return pid;
}

// QEMU's pid when the process in its pidfile is the QEMU of this guest (its argv names the QMP
// socket); 0 otherwise.
int qemu_pid(const RunPaths& p) {
    auto pid = proc::read_pidfile(p.pidfile);
    if (!pid || !proc::alive(*pid)) return 0;
    for (const auto& a : proc::cmdline(*pid)) {
        if (a.find(qemu_escape(p.qmp)) != std::string::npos) return *pid;
    }
    return 0;
}

// Whether something accepts connections on a unix socket path.

std::string tail_of(const std::string& path, std::size_t lines) {
    std::ifstream in(path);
    std::deque<std::string> last;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        last.push_back(line);
        if (last.size() > lines) last.pop_front();
    }
    std::string out;
    for (const auto& l : last) out += "\n  " + l;
    return out;
}

}  // namespace vfgate::vm::rundir
