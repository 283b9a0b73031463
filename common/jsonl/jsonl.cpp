#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vfgate/common/jsonl.hpp>

namespace vfgate::jsonl {

Result<Request> parse_request(std::string_view line) {
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded()) return fail(ErrorKind::kInvalidArgument, "request is not valid JSON");
    if (!j.is_object()) return fail(ErrorKind::kInvalidArgument, "request is not a JSON object");
    auto m = j.find("method");
    if (m == j.end() || !m->is_string()) {
        return fail(ErrorKind::kInvalidArgument, "request has no \"method\" string");
    }
    Request r{m->get<std::string>()};
    if (auto p = j.find("params"); p != j.end() && !p->is_null()) {
        if (!p->is_object()) {
            return fail(ErrorKind::kInvalidArgument, "\"params\" is not a JSON object");
        }
        r.params = *p;
    }
    return r;
}

std::string ok_reply(const Json& result) {
    return Json{{"ok", true}, {"result", result}}.dump(-1, ' ', false,
                                                       Json::error_handler_t::replace) +
           "\n";
}

std::string error_reply(std::string_view message) {
    return Json{{"ok", false}, {"error", message}}.dump(-1, ' ', false,
                                                        Json::error_handler_t::replace) +
           "\n";
}

std::optional<std::string> LineBuffer::next() {
    auto nl = buf_.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

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

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// Waits for `events` on fd until the deadline; false on time-out.
bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline) {
    pollfd p{fd, events, 0};
    int r = 0;
    do {
        r = ::poll(&p, 1, remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    return r > 0;
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
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return tl::unexpected(Error::from_errno(errno, "socket"));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return tl::unexpected(Error::from_errno(errno, where("connect to")));
    }
    std::string out = Json{{"method", method}, {"params", params}}.dump() + "\n";
    std::string_view rest = out;
    while (!rest.empty()) {
        if (!wait_for(fd.get(), POLLOUT, deadline)) {
            return tl::unexpected(Error(ErrorKind::kSystem, where("timed out writing to")));
        }
        ssize_t n = ::send(fd.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return tl::unexpected(Error::from_errno(errno, where("write to")));
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    LineBuffer lines;
    char buf[65536];
    for (;;) {
        if (auto line = lines.next()) {
            Json reply = Json::parse(*line, nullptr, false);
            if (reply.is_discarded() || !reply.is_object() || !reply.contains("ok")) {
                return fail(ErrorKind::kInternal, where("malformed reply from"));
            }
            if (reply["ok"] == true) return reply.value("result", Json());
            return fail(ErrorKind::kInvalidArgument, reply.value("error", std::string("failed")));
        }
        if (lines.overflowed()) return fail(ErrorKind::kInternal, where("reply too long from"));
        if (!wait_for(fd.get(), POLLIN, deadline)) {
            return tl::unexpected(Error(ErrorKind::kSystem, where("timed out waiting for")));
        }
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return tl::unexpected(Error::from_errno(errno, where("read from")));
        if (n == 0) return fail(ErrorKind::kSystem, where("connection closed by"));
        lines.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
}

}  // namespace vfgate::jsonl
