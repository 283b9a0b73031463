// QmpClient: a QMP session over QEMU's unix socket, with a deadline on every read and bounds on
// what is read (vfgate/vm-launcher/qmp.hpp).

#include <array>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>
#include <utility>

#include <vfgate/vm-launcher/qmp.hpp>

namespace vfgate::vm {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds remaining(Clock::time_point deadline) {
    return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - Clock::now()));
}

// Waits for `events` on fd until the deadline: 1 when ready, 0 on time-out, -errno on failure.
int wait_for(int fd, short events, Clock::time_point deadline) {
    pollfd p{fd, events, 0};
    for (;;) {
        int r = ::poll(&p, 1, static_cast<int>(remaining(deadline).count()));
        if (r >= 0) return r > 0 ? 1 : 0;
        if (errno != EINTR) return -errno;
    }
}

std::string ms_text(milliseconds t) { return std::to_string(t.count()) + " ms"; }

// The start of what the peer sent, printable, for an error message.
std::string excerpt(std::string_view text) {
    constexpr std::size_t kMax = 60;
    std::string out = "'";
    for (char c : text.substr(0, kMax)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    out += text.size() > kMax ? "'..." : "'";
    return out;
}

std::string excerpt_json(const Json& j) {
    return excerpt(j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string closed_text() { return "QEMU closed the connection"; }

// QEMU's error classes (qapi/error.json) as vfgate error kinds.
ErrorKind kind_of_class(const std::string& error_class) {
    if (error_class == "DeviceNotFound") return ErrorKind::kNotFound;
    if (error_class == "GenericError") return ErrorKind::kInvalidArgument;
    return ErrorKind::kUnsupported;  // CommandNotFound, DeviceNotActive, KVMMissingCap
}

bool is_event(const Json& m) {
    auto e = m.find("event");
    return e != m.end() && e->is_string();
}

bool is_reply(const Json& m) {
    if (m.contains("event")) return false;
    auto e = m.find("error");
    return m.contains("return") || (e != m.end() && e->is_object());
}

std::string string_field(const Json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

QmpClient::QmpClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

QmpClient::QmpClient(QmpClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      greeting_(std::move(other.greeting_)),
      lines_(std::move(other.lines_)),
      events_(std::move(other.events_)),
      queued_bytes_(other.queued_bytes_),
      events_dropped_(other.events_dropped_),
      next_id_(other.next_id_),
      lost_(std::move(other.lost_)) {
    other.lost_ = Error(ErrorKind::kInvalidArgument, "not connected (the client was moved)");
}

QmpClient& QmpClient::operator=(QmpClient&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        greeting_ = std::move(other.greeting_);
        lines_ = std::move(other.lines_);
        events_ = std::move(other.events_);
        queued_bytes_ = other.queued_bytes_;
        events_dropped_ = other.events_dropped_;
        next_id_ = other.next_id_;
        lost_ = std::move(other.lost_);
        other.lost_ = Error(ErrorKind::kInvalidArgument, "not connected (the client was moved)");
    }
    return *this;
}

QmpClient::~QmpClient() {
    if (fd_ >= 0) ::close(fd_);
}

Error QmpClient::error(ErrorKind kind, std::string what, int sys_errno) const {
    return Error(kind, std::move(what), sys_errno).context("QMP " + path_);
}

Error QmpClient::at(const std::string& what, const Error& reason) const {
    return error(reason.kind(), what + ": " + reason.message(), reason.sys_errno());
}

Error QmpClient::lose(Error reason) {
    lost_ = reason;
    return reason;
}

Result<QmpClient> QmpClient::connect(const std::string& socket_path, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) {
        return tl::unexpected(
            Error(ErrorKind::kInvalidArgument,
                  "socket path longer than " + std::to_string(sizeof addr.sun_path - 1) + " bytes")
                .context("QMP " + socket_path));
    }
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return tl::unexpected(Error::from_errno(errno, "socket"));
    QmpClient c(fd, socket_path);  // closes fd on every return below
    // Non-blocking: a listener whose backlog is full (nobody accepts) fails with EAGAIN
    // instead of blocking past the deadline.
    while (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN && Clock::now() < deadline) {
            std::this_thread::sleep_for(std::min(milliseconds(5), remaining(deadline)));
            continue;
        }
        switch (e) {
            case ENOENT:
                return tl::unexpected(
                    c.error(ErrorKind::kNotFound, "no such socket (is QEMU running?)"));
            case ECONNREFUSED:
                return tl::unexpected(c.error(ErrorKind::kNotFound,
                                              "connection refused (stale socket: is QEMU "
                                              "running?)"));
            case EAGAIN:
                return tl::unexpected(c.error(
                    ErrorKind::kConflict, "busy: nobody accepted the connection within " +
                                              ms_text(timeout) + " (its listen queue is full)"));
            default:
                return tl::unexpected(c.error(ErrorKind::kSystem, "connect", e));
        }
    }
    auto greeting = c.read_greeting(deadline, timeout);
    if (!greeting) return tl::unexpected(std::move(greeting.error()));
    c.greeting_ = std::move(*greeting);
    auto negotiated = c.execute("qmp_capabilities", nullptr, remaining(deadline));
    if (!negotiated) return tl::unexpected(std::move(negotiated.error()));
    return c;
}

Result<Json> QmpClient::read_greeting(Deadline deadline, milliseconds timeout) {
    auto m = read_message(deadline);
    // QEMU can send an event ahead of the greeting: CI saw a QEMU 10 started without -S send
    // its RESUME first. It is an event like any other: queue it and read on.
    while (m && *m && is_event((*m)->json)) {
        queue_event(std::move(**m));
        m = read_message(deadline);
    }
    if (!m) return tl::unexpected(at("greeting", m.error()));
    if (!*m) {
        return tl::unexpected(
            error(ErrorKind::kConflict, "no greeting within " + ms_text(timeout) +
                                            " (busy: another client holds QEMU's single QMP "
                                            "connection; or QEMU is still starting or hung; or "
                                            "not QEMU)"));
    }
    Json& greeting = (*m)->json;
    auto qmp = greeting.find("QMP");
    if (qmp == greeting.end() || !qmp->is_object() || !qmp->contains("version")) {
        return tl::unexpected(
            at("greeting",
               Error(ErrorKind::kInternal, "not QMP: expected {\"QMP\": {\"version\": ...}}, got " +
                                               excerpt_json(greeting))));
    }
    return std::move(greeting);
}

Result<void> QmpClient::send_line(const std::string& line, Deadline deadline) {
    std::string_view rest = line;
    while (!rest.empty()) {
        const int ready = wait_for(fd_, POLLOUT, deadline);
        if (ready < 0) return tl::unexpected(lose(Error::from_errno(-ready, "poll")));
        if (ready == 0) {
            Error e(ErrorKind::kSystem, "QEMU did not take the command in time");
            // Half a command on the wire: nothing can follow it.
            if (rest.size() < line.size()) return tl::unexpected(lose(std::move(e)));
            return tl::unexpected(std::move(e));
        }
        ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            return tl::unexpected(lose(Error(ErrorKind::kSystem, closed_text())));
        }
        if (n < 0) return tl::unexpected(lose(Error::from_errno(errno, "send")));
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

Result<std::optional<QmpClient::Message>> QmpClient::read_message(Deadline deadline) {
    for (;;) {
        if (lines_.overflowed()) {
            return tl::unexpected(lose(Error(
                ErrorKind::kInternal, "not QMP: a message longer than " +
                                          std::to_string(kQmpMaxMessage) + " bytes (the limit)")));
        }
        if (auto line = lines_.next()) {
            if (line->empty()) continue;
            auto j = jsonl::parse(*line, kQmpMaxDepth);
            if (!j) {
                return tl::unexpected(
                    lose(Error(ErrorKind::kInternal,
                               "not QMP: " + j.error().message() + ": " + excerpt(*line))));
            }
            if (!j->is_object()) {
                return tl::unexpected(lose(
                    Error(ErrorKind::kInternal, "not QMP: not a JSON object: " + excerpt(*line))));
            }
            return Message{std::move(*j), line->size()};
        }
        // Checked before each read, not only by poll: a peer that never stops sending must not
        // hold the call past its deadline.
        if (Clock::now() >= deadline) return std::optional<Message>();
        const int ready = wait_for(fd_, POLLIN, deadline);
        if (ready < 0) return tl::unexpected(lose(Error::from_errno(-ready, "poll")));
        if (ready == 0) return std::optional<Message>();
        std::array<char, 64u << 10> buf{};  // here, not above: filled only when there is input
        ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return tl::unexpected(lose(Error(ErrorKind::kSystem, closed_text())));
        }
        if (n < 0) return tl::unexpected(lose(Error::from_errno(errno, "recv")));
        lines_.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
}

Result<bool> QmpClient::check_reply_id(const Json& reply, std::int64_t id) {
    auto it = reply.find("id");
    if (it == reply.end()) {
        return tl::unexpected(lose(
            Error(ErrorKind::kInternal, "not QMP: a reply without an id: " + excerpt_json(reply))));
    }
    const std::int64_t got = it->is_number_integer() ? it->get<std::int64_t>() : 0;
    if (got < 1 || got >= next_id_) {
        return tl::unexpected(
            lose(Error(ErrorKind::kInternal,
                       "not QMP: a reply to a command never sent: " + excerpt_json(reply))));
    }
    return got == id;  // an earlier id: the late reply to a command that timed out
}

void QmpClient::queue_event(Message event) {
    while (!events_.empty() && (events_.size() >= kQmpMaxQueuedEvents ||
                                queued_bytes_ + event.bytes > kQmpMaxQueuedEventBytes)) {
        queued_bytes_ -= events_.front().bytes;
        events_.pop_front();
        ++events_dropped_;
    }
    queued_bytes_ += event.bytes;
    events_.push_back(std::move(event));
}

Result<Json> QmpClient::execute(const std::string& command, const Json& arguments,
                                milliseconds timeout) {
    if (lost_) return tl::unexpected(at(command, *lost_));
    if (!arguments.is_null() && !arguments.is_object()) {
        return tl::unexpected(
            error(ErrorKind::kInvalidArgument, command + ": arguments are not a JSON object"));
    }
    const auto deadline = Clock::now() + timeout;
    const std::int64_t id = next_id_++;
    Json request{{"execute", command}, {"id", id}};
    if (!arguments.is_null()) request["arguments"] = arguments;
    auto sent =
        send_line(request.dump(-1, ' ', false, Json::error_handler_t::replace) + "\r\n", deadline);
    if (!sent) return tl::unexpected(at(command, sent.error()));
    for (;;) {
        auto m = read_message(deadline);
        if (!m) return tl::unexpected(at(command, m.error()));
        if (!*m) {
            return tl::unexpected(
                error(ErrorKind::kSystem, command + ": no reply within " + ms_text(timeout)));
        }
        Json& msg = (*m)->json;
        if (is_event(msg)) {
            queue_event(std::move(**m));
            continue;
        }
        if (!is_reply(msg)) {
            return tl::unexpected(
                at(command, lose(Error(ErrorKind::kInternal, "not QMP: " + excerpt_json(msg)))));
        }
        auto ours = check_reply_id(msg, id);
        if (!ours) return tl::unexpected(at(command, ours.error()));
        if (!*ours) continue;
        if (auto r = msg.find("return"); r != msg.end()) return std::move(*r);
        const Json& e = msg["error"];
        const std::string error_class = string_field(e, "class");
        std::string what = command;
        what.append(": ").append(error_class).append(": ").append(string_field(e, "desc"));
        return tl::unexpected(error(kind_of_class(error_class), std::move(what)));
    }
}

Result<Json> QmpClient::wait_event(const std::string& name, milliseconds timeout) {
    for (auto it = events_.begin(); it != events_.end(); ++it) {
        if (it->json["event"] == name) {
            Json e = std::move(it->json);
            queued_bytes_ -= it->bytes;
            events_.erase(it);
            return e;
        }
    }
    const std::string what = "event " + name;
    if (lost_) return tl::unexpected(at(what, *lost_));
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto m = read_message(deadline);
        if (!m) return tl::unexpected(at(what, m.error()));
        if (!*m) {
            return tl::unexpected(
                error(ErrorKind::kSystem, what + ": not received within " + ms_text(timeout)));
        }
        Json& msg = (*m)->json;
        if (is_event(msg)) {
            if (msg["event"] == name) return std::move(msg);
            queue_event(std::move(**m));
            continue;
        }
        // No command is waiting: only a late reply to one that timed out may come.
        if (!is_reply(msg)) {
            return tl::unexpected(
                at(what, lose(Error(ErrorKind::kInternal, "not QMP: " + excerpt_json(msg)))));
        }
        auto stale = check_reply_id(msg, 0);
        if (!stale) return tl::unexpected(at(what, stale.error()));
    }
}

std::vector<Json> QmpClient::take_events() {
    std::vector<Json> out;
    out.reserve(events_.size());
    for (auto& e : events_) out.push_back(std::move(e.json));
    events_.clear();
    queued_bytes_ = 0;
    return out;
}

}  // namespace vfgate::vm
