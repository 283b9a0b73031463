#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <vfgate/common/jsonl_server.hpp>

namespace vfgate::jsonl {
namespace {

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

}  // namespace

Server::~Server() {
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
    return {};
}

void Server::handle(std::string method, Handler handler) {
    handlers_[std::move(method)] = std::move(handler);
}

std::string Server::dispatch(std::string_view line) {
    auto req = parse_request(line);
    if (!req) return error_reply(req.error().to_string());
    if (req->method == "methods") {
        Json names = Json::array();
        for (const auto& [name, h] : handlers_) names.push_back(name);
        return ok_reply(names);
    }
    auto it = handlers_.find(req->method);
    if (it == handlers_.end()) {
        std::string known;
        for (const auto& [name, h] : handlers_) known += (known.empty() ? "" : ", ") + name;
        return error_reply("unknown method '" + req->method + "'; expected one of " + known);
    }
    try {
        auto result = it->second(req->params);
        return result ? ok_reply(*result) : error_reply(result.error().to_string());
    } catch (const Json::exception& e) {
        // A parameter of the wrong type (handlers read params with Json::value).
        return error_reply(req->method + ": bad params: " + e.what());
    }
}

void Server::accept_clients() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return;  // EAGAIN: done; anything else: try again on the next poll
        if (clients_.size() >= kMaxClients) {
            std::string busy = error_reply("too many clients");
            static_cast<void>(::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL));
            ::close(fd);
            continue;
        }
        clients_.push_back(Client{fd, LineBuffer(), {}, false});
    }
}

void Server::serve(Client& c) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) {
            c.in.feed(std::string_view(buf, static_cast<std::size_t>(n)));
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) c.closing = true;
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    while (auto line = c.in.next()) {
        if (!line->empty()) c.out += dispatch(*line);
    }
    if (c.in.overflowed()) {
        c.out +=
            error_reply("request line longer than " + std::to_string(kMaxRequestLine) + " bytes");
        c.closing = true;
    }
}

void Server::run(int stop_fd, const std::function<bool(int)>& on_stop) {
    for (;;) {
        std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        for (const auto& c : clients_) {
            fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents != 0 && on_stop(stop_fd)) return;
        if (fds[0].revents & POLLIN) accept_clients();
        for (std::size_t i = 0; i < clients_.size() && i + 2 < fds.size(); ++i) {
            Client& c = clients_[i];
            short ev = fds[i + 2].revents;
            if (ev & (POLLIN | POLLHUP | POLLERR)) serve(c);
            while (!c.out.empty()) {
                ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
                if (n <= 0) {
                    if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        c.closing = true;  // the peer is gone: drop what it will never read
                        c.out.clear();
                    }
                    break;
                }
                c.out.erase(0, static_cast<std::size_t>(n));
            }
        }
        std::erase_if(clients_, [](const Client& c) {
            bool done = c.closing && c.out.empty();
            if (done) ::close(c.fd);
            return done;
        });
    }
}

}  // namespace vfgate::jsonl
