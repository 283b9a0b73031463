#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vfgate/common/jsonl_server.hpp>

namespace vfgate::jsonl {
namespace {

// Requests served per client per poll round, so that one busy client delays a signal or the
// others by a few requests, not by everything it has sent.
constexpr int kRequestsPerRound = 16;

Result<void> make_dirs(const std::string& dir) {
    for (std::size_t i = 1; i <= dir.size(); ++i) {
        if (i != dir.size() && dir[i] != '/') continue;
        std::string part = dir.substr(0, i);
        if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
            return tl::unexpected(Error::from_errno(errno, "create directory " + part));
        }
    }
    return {};
}

std::string seconds_text(std::chrono::milliseconds d) {
    auto ms = d.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

}  // namespace

Server::Server(ServerOptions options) : opts_(std::move(options)) {}

Server::~Server() {
    stop_workers();
    for (auto& c : clients_) ::close(c.fd);
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        ::unlink(path_.c_str());
    }
}

Result<void> Server::listen(const std::string& path, mode_t mode) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        return fail(ErrorKind::kInvalidArgument, "control socket path '" + path + "' is too long");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (auto slash = path.find_last_of('/'); slash != std::string::npos && slash > 0) {
        if (auto r = make_dirs(path.substr(0, slash)); !r) return r;
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return tl::unexpected(Error::from_errno(errno, "socket"));
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            ::close(fd);
            return fail(ErrorKind::kConflict,
                        path + " exists and is not a socket; not touching it");
        }
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 &&
                    ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
        if (probe >= 0) ::close(probe);
        if (live) {
            ::close(fd);
            return fail(ErrorKind::kConflict, "another process is serving " + path +
                                                  " (a dataplane with this config already runs?)");
        }
        ::unlink(path.c_str());  // stale, from a crash
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        ::close(fd);
        return tl::unexpected(Error::from_errno(err, "bind " + path));
    }
    if (::chmod(path.c_str(), mode) != 0 || ::listen(fd, 16) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return tl::unexpected(Error::from_errno(err, "listen on " + path));
    }
    listen_fd_ = fd;
    path_ = path;
    if (opts_.workers > 0 && workers_.empty()) {
        done_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (done_fd_ < 0) return tl::unexpected(Error::from_errno(errno, "eventfd"));
        for (std::size_t i = 0; i < opts_.workers; ++i) workers_.emplace_back([this] { work(); });
    }
    return {};
}

void Server::stop_workers() {
    {
        std::lock_guard lock(work_mu_);
        quit_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();  // each ends after the request it runs
    workers_.clear();
    if (done_fd_ < 0) return;
    take_replies(Clock::now());  // those requests' answers, sent as far as the sockets take them
    ::close(done_fd_);
    done_fd_ = -1;
}

void Server::work() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(work_mu_);
            work_cv_.wait(lock, [&] { return quit_ || !jobs_.empty(); });
            if (quit_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        std::string reply = dispatch(job.request, job.peer);
        {
            std::lock_guard lock(work_mu_);
            done_.push_back({job.client, std::move(reply)});
        }
        const std::uint64_t one = 1;
        static_cast<void>(::write(done_fd_, &one, sizeof one));
    }
}

// The workers' replies, each to its client (if it is still there), whose next request may go.
void Server::take_replies(Clock::time_point now) {
    std::uint64_t n = 0;
    static_cast<void>(::read(done_fd_, &n, sizeof n));
    std::vector<Done> done;
    {
        std::lock_guard lock(work_mu_);
        done.swap(done_);
    }
    for (auto& d : done) {
        for (auto& c : clients_) {
            if (c.id != d.client) continue;
            c.out += d.reply;
            c.waiting = false;
            c.more = true;  // requests it sent meanwhile: served next round
            c.activity = now;
            flush(c, now);
        }
    }
}

void Server::handle(std::string method, Handler handler, Blocking blocking) {
    handle(
        std::move(method),
        [h = std::move(handler)](const Json& params, const Peer&) { return h(params); }, blocking);
}

void Server::handle(std::string method, PeerHandler handler, Blocking blocking) {
    handlers_[std::move(method)] = Method{std::move(handler), blocking == Blocking::kYes};
}

std::string Server::dispatch(std::string_view line, const Peer& peer) {
    auto req = parse_request(line);
    if (!req) return error_reply(req.error().to_string());
    return dispatch(*req, peer);
}

std::string Server::dispatch(const Request& req, const Peer& peer) {
    if (req.method == "methods") {
        Json names = Json::array();
        for (const auto& [name, h] : handlers_) names.push_back(name);
        return ok_reply(names);
    }
    auto it = handlers_.find(req.method);
    if (it == handlers_.end()) {
        std::string known;
        for (const auto& [name, h] : handlers_) known += (known.empty() ? "" : ", ") + name;
        return error_reply("unknown method '" + req.method + "'; expected one of " + known);
    }
    try {
        auto result = it->second.handler(req.params, peer);
        return result ? ok_reply(*result) : error_reply(result.error().to_string());
    } catch (const Json::exception& e) {
        // A parameter of the wrong type (handlers read params with Json::value).
        return error_reply(req.method + ": bad params: " + e.what());
    }
}

void Server::note(const Client& c, const std::string& what) const {
    if (!opts_.log) return;
    opts_.log("control client (pid " + std::to_string(c.peer.pid) + ", uid " +
              std::to_string(c.peer.uid) + "): " + what);
}

void Server::refuse(Client& c, const std::string& why) {
    note(c, why);
    c.out += error_reply(why);  // `out` holds whole lines: this starts a line of its own
    c.closing = true;
}

void Server::accept_clients(Clock::time_point now) {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;  // EAGAIN: done; anything else: try again on the next poll
        Client c{next_client_++, fd, peer_of(fd), LineBuffer(opts_.max_request_line), {}, 0, now};
        if (clients_.size() >= opts_.max_clients) {
            // Sent before the close, so the newcomer reads why even if its write then fails.
            std::string busy = error_reply(
                "too many clients (" + std::to_string(opts_.max_clients) + "); try again later");
            static_cast<void>(::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL));
            ::close(fd);
            if (!full_noted_) note(c, "refused: too many clients");
            full_noted_ = true;
            continue;
        }
        clients_.push_back(std::move(c));
    }
}

// A request of a blocking method goes to the workers (when there are any); others are
// answered here.
void Server::serve_line(Client& c, std::string_view line) {
    auto req = parse_request(line);
    if (!req) {
        c.out += error_reply(req.error().to_string());
        return;
    }
    const auto it = handlers_.find(req->method);
    if (workers_.empty() || it == handlers_.end() || !it->second.blocking) {
        c.out += dispatch(*req, c.peer);
        return;
    }
    c.waiting = true;
    {
        std::lock_guard lock(work_mu_);
        jobs_.push_back({c.id, std::move(*req), c.peer});
    }
    work_cv_.notify_one();
}

void Server::serve(Client& c, Clock::time_point now) {
    int budget = kRequestsPerRound;
    c.more = false;
    for (;;) {
        while (budget > 0 && !c.closing && !c.waiting && c.pending() < opts_.max_pending_output &&
               !over_budget()) {
            if (c.in.overflowed()) {
                refuse(c, "request line longer than " + std::to_string(c.in.max_line()) +
                              " bytes; closing");
                break;
            }
            auto line = c.in.next();
            if (!line) break;
            --budget;
            c.activity = now;
            if (!line->empty()) serve_line(c, *line);
        }
        // Wait for output, or for the reply a worker makes.
        if (c.closing || c.waiting || c.pending() >= opts_.max_pending_output) return;
        if (over_budget()) {
            c.more = true;  // served again once the others' output makes room
            return;
        }
        if (budget == 0) {
            c.more = true;  // maybe more lines buffered: the next round serves them
            return;
        }
        // Every complete line is served; read more only now, so `in` holds at most one line.
        if (c.eof) {
            c.closing = true;
            return;
        }
        char buf[65536];
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
            c.in.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else if (n == 0 || errno != EINTR) {
            c.eof = true;
        }
    }
}

void Server::flush(Client& c, Clock::time_point now) {
    while (c.pending() > 0) {
        ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.pending(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out_sent += static_cast<std::size_t>(n);
            c.activity = now;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        c.drop = true;  // the peer is gone: drop what it will never read
        return;
    }
    if (c.pending() == 0) {
        // A big reply's buffer is not kept for a client that may never need it again.
        if (c.out.capacity() > (64u << 10)) {
            std::string().swap(c.out);
        } else {
            c.out.clear();
        }
        c.out_sent = 0;
    } else if (c.out_sent > (1u << 20) && c.out_sent > c.out.size() / 2) {
        c.out.erase(0, c.out_sent);
        c.out_sent = 0;
    }
}

void Server::expire(Client& c, Clock::time_point now) {
    if (c.drop) return;
    const auto quiet = now - c.activity;
    if (c.pending() > 0) {
        if (quiet < opts_.send_timeout) return;
        note(c, "closed: took none of its replies for " + seconds_text(opts_.send_timeout));
        c.drop = true;
        // Say why if the stuck output ends on a line boundary and the socket takes a line.
        if (c.out_sent == 0 || c.out[c.out_sent - 1] == '\n') {
            std::string why =
                error_reply("took no reply for " + seconds_text(opts_.send_timeout) + "; closing");
            static_cast<void>(::send(c.fd, why.data(), why.size(), MSG_NOSIGNAL));
        }
    } else if (!c.closing && !c.waiting && quiet >= opts_.idle_timeout) {
        refuse(c, "no request for " + seconds_text(opts_.idle_timeout) + "; closing");
        flush(c, now);
    }
}

bool Server::over_budget() const {
    if (opts_.max_buffered == 0) return false;
    std::size_t total = 0;
    for (const auto& c : clients_) total += c.in.buffered() + c.pending();
    return total >= opts_.max_buffered;
}

int Server::poll_timeout_ms(Clock::time_point now) const {
    auto next = Clock::time_point::max();
    const bool full = over_budget();  // then `more` waits for output, not for nothing
    for (const auto& c : clients_) {
        if (c.more && !full) return 0;
        if ((c.closing || c.waiting) && c.pending() == 0) continue;
        auto limit = c.pending() > 0 ? opts_.send_timeout : opts_.idle_timeout;
        next = std::min(next, c.activity + limit);
    }
    if (next == Clock::time_point::max()) return -1;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
}

void Server::run(int stop_fd, const std::function<bool(int)>& on_stop) {
    for (;;) {
        std::vector<pollfd> fds{
            {listen_fd_, POLLIN, 0}, {stop_fd, POLLIN, 0}, {done_fd_, POLLIN, 0}};
        const bool full = over_budget();
        for (const auto& c : clients_) {
            bool wants_input = !full && !c.eof && !c.closing && !c.waiting &&
                               c.pending() < opts_.max_pending_output;
            short events =
                static_cast<short>((wants_input ? POLLIN : 0) | (c.pending() > 0 ? POLLOUT : 0));
            fds.push_back({c.fd, events, 0});
        }
        if (::poll(fds.data(), fds.size(), poll_timeout_ms(Clock::now())) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents != 0 && on_stop(stop_fd)) return;
        const auto now = Clock::now();
        if (fds[2].revents != 0) take_replies(now);
        for (std::size_t i = 0; i < clients_.size(); ++i) {
            Client& c = clients_[i];
            if (c.waiting && (fds[i + 3].revents & (POLLHUP | POLLERR)) != 0) {
                c.drop = true;  // gone while a worker runs its request: the reply goes nowhere
                continue;
            }
            if (fds[i + 3].revents == 0 && !c.more) continue;
            flush(c, now);  // first: room for output lets the next request go
            if (!c.drop) serve(c, now);
            if (!c.drop) flush(c, now);
        }
        for (auto& c : clients_) expire(c, now);
        std::erase_if(clients_, [](const Client& c) {
            bool done = c.drop || (c.closing && c.pending() == 0);
            if (done) ::close(c.fd);
            return done;
        });
        if (clients_.size() < opts_.max_clients) full_noted_ = false;
        if (fds[0].revents & POLLIN) accept_clients(now);
    }
}

}  // namespace vfgate::jsonl
