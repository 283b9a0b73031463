// read_regular_file: open without blocking, refuse what isn't a regular file, read with a limit.

#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include <vfgate/common/file.hpp>

namespace vfgate {
namespace {

// Closes the descriptor on every path out.
class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

Error too_large(std::size_t found, std::size_t max_bytes) {
    return Error(ErrorKind::kInvalidArgument, "found " + std::to_string(found) +
                                                  " bytes; expected at most " +
                                                  std::to_string(max_bytes) + " bytes");
}

// "a FIFO", "a directory", ... for a st_mode's file type.
const char* file_type_name(mode_t mode) {
    switch (mode & S_IFMT) {
        case S_IFREG:
            return "a regular file";
        case S_IFDIR:
            return "a directory";
        case S_IFIFO:
            return "a FIFO";
        case S_IFSOCK:
            return "a socket";
        case S_IFCHR:
            return "a character device";
        case S_IFBLK:
            return "a block device";
        case S_IFLNK:
            return "a symbolic link";
        default:
            return "of an unknown type";
    }
}

}  // namespace

Result<std::string> read_regular_file(const std::string& path, std::size_t max_bytes) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (fd.get() < 0) {
        int err = errno;
        return tl::unexpected(
            Error(err == ENOENT ? ErrorKind::kNotFound : ErrorKind::kSystem, "cannot open", err));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return tl::unexpected(Error::from_errno(errno, "cannot read"));
    }
    if (!S_ISREG(st.st_mode)) {
        return tl::unexpected(Error(
            ErrorKind::kInvalidArgument,
            std::string("cannot read: not a regular file (") + file_type_name(st.st_mode) + ")"));
    }
    if (static_cast<std::size_t>(st.st_size) > max_bytes) {
        return tl::unexpected(too_large(static_cast<std::size_t>(st.st_size), max_bytes));
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return tl::unexpected(Error::from_errno(errno, "cannot read"));
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        // The file grew while we read it.
        if (text.size() > max_bytes) return tl::unexpected(too_large(text.size(), max_bytes));
    }
    return text;
}

Result<void> write_file_atomic(const std::string& path, std::string_view text) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return tl::unexpected(Error::from_errno(errno, "cannot write " + tmp));
    int err = 0;
    while (!text.empty() && err == 0) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = errno;
        } else {
            text.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    if (::close(fd) != 0 && err == 0) err = errno;
    if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
    if (err != 0) {
        ::unlink(tmp.c_str());
        return tl::unexpected(Error::from_errno(err, "cannot write " + path));
    }
    return {};
}

Result<bool> rotate_log(const std::string& path, std::int64_t max_bytes) {
    namespace fs = std::filesystem;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= max_bytes) {
        return false;
    }
    std::error_code ec;
    const std::string old = path + ".1";
    fs::copy_file(path, old, fs::copy_options::overwrite_existing, ec);
    const int err = ec.value();
    if (err != 0) fs::remove(old, ec);  // not half a copy
    if (::truncate(path.c_str(), 0) != 0) {
        return tl::unexpected(Error::from_errno(errno, "cannot empty " + path));
    }
    if (err != 0) {
        return tl::unexpected(
            Error::from_errno(err, "cannot copy " + path + " to " + old + "; emptied it anyway"));
    }
    return true;
}

}  // namespace vfgate
