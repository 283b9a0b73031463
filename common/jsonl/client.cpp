// jsonl::call: one request, one reply, over a fresh connection.

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <vfgate/common/jsonl.hpp>

namespace vfgate::jsonl {
namespace {

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

using Deadline = std::chrono::steady_clock::time_point;

int remaining_ms(Deadline deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// Waits for `events` on fd until the deadline; false on time-out.
bool wait_for(int fd, short events, Deadline deadline) {
    pollfd p{fd, events, 0};
    int r = 0;
    do {
        r = ::poll(&p, 1, remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

// Writes all of `bytes`; 0 or the errno of the failed write (ETIMEDOUT on time-out).
int send_all(int fd, std::string_view bytes, Deadline deadline) {
    while (!bytes.empty()) {
        if (!wait_for(fd, POLLOUT, deadline)) return ETIMEDOUT;
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) return errno;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

Result<Json> to_result(const Json& reply, const std::string& socket_path) {
    if (!reply.is_object() || !reply.contains("ok")) {
        return fail(ErrorKind::kInternal, "malformed reply from " + socket_path);
    }
    if (reply["ok"] == true) return reply.value("result", Json());
    // A server's error is a string; anything else there is the server's fault, not a crash here.
    const auto error = reply.find("error");
    if (error != reply.end() && !error->is_string()) {
        return fail(ErrorKind::kInternal,
                    "malformed reply from " + socket_path + ": error is not a string");
    }
    return fail(ErrorKind::kInvalidArgument,
                error != reply.end() ? error->get<std::string>() : std::string("failed"));
}

}  // namespace

Result<Json> call(const std::string& socket_path, std::string_view method, const Json& params,
                  std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto where = [&](const std::string& what) { return what + " " + socket_path; };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) {
        return fail(ErrorKind::kInvalidArgument, where("socket path too long:"));
    }
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    // Non-blocking: a server that no longer accepts fills its backlog, and a blocking connect
    // then waits for ever; this one waits until the deadline.
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (fd.get() < 0) return tl::unexpected(Error::from_errno(errno, "socket"));
    while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return tl::unexpected(Error::from_errno(errno, where("connect to")));
        if (remaining_ms(deadline) == 0) {
            return fail(ErrorKind::kSystem,
                        where("timed out connecting to") + " (it accepts no connection)");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const int send_err =
        send_all(fd.get(), Json{{"method", method}, {"params", params}}.dump() + "\n", deadline);
    if (send_err == ETIMEDOUT) {
        return tl::unexpected(Error(ErrorKind::kSystem, where("timed out writing to")));
    }
    // A server that refuses us (too many clients) says why, then closes without reading: the
    // write fails, but the reason is waiting to be read. Report it rather than EPIPE.
    auto write_failed = [&] {
        return tl::unexpected(Error::from_errno(send_err, where("write to")));
    };
    if (send_err != 0 && send_err != EPIPE && send_err != ECONNRESET) return write_failed();
    LineBuffer lines(kMaxReplyLine);
    std::string buf(1u << 20, '\0');
    for (;;) {
        if (lines.overflowed()) {
            return fail(ErrorKind::kInternal, where("reply longer than " +
                                                    std::to_string(kMaxReplyLine) + " bytes from"));
        }
        if (auto line = lines.next()) {
            auto reply = parse(*line);
            if (!reply) {
                return tl::unexpected(
                    std::move(reply.error()).context(where("malformed reply from")));
            }
            return to_result(*reply, socket_path);
        }
        if (!wait_for(fd.get(), POLLIN, deadline)) {
            if (send_err != 0) return write_failed();
            return tl::unexpected(Error(ErrorKind::kSystem, where("timed out waiting for")));
        }
        ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (send_err != 0 && n <= 0) return write_failed();
        if (n < 0) return tl::unexpected(Error::from_errno(errno, where("read from")));
        if (n == 0) return fail(ErrorKind::kSystem, where("connection closed by"));
        lines.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
}

}  // namespace vfgate::jsonl
