// Reading a config file from disk (the file system adapter of config).

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vfgate/common/error.hpp>
#include <vfgate/config/load.hpp>

namespace vfgate::config {
namespace {

LoadResult unreadable(const std::string& path, std::string message) {
    LoadResult r;
    r.errors.push_back({path, {}, "", std::move(message)});
    return r;
}

}  // namespace

LoadResult load_file(const std::string& path) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return unreadable(path, "cannot open: " + errno_text(errno));
    struct stat st {};
    const bool stat_ok = ::fstat(fd, &st) == 0;
    if (!stat_ok || !S_ISREG(st.st_mode)) {
        int err = !stat_ok ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
        ::close(fd);
        return unreadable(path, "cannot read: " + (err ? errno_text(err) : "not a regular file"));
    }
    if (static_cast<std::size_t>(st.st_size) > kMaxConfigBytes) {
        ::close(fd);
        return unreadable(path, "found " + std::to_string(st.st_size) +
                                    " bytes; expected a config of at most " +
                                    std::to_string(kMaxConfigBytes) + " bytes");
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            return unreadable(path, "cannot read: " + errno_text(err));
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxConfigBytes) break;  // grew while we read; load_string refuses it
    }
    ::close(fd);
    return load_string(text, path);
}

}  // namespace vfgate::config
