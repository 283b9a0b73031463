// Who is at the other end of a control connection, and what it may read.

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vfgate/common/jsonl_server.hpp>

namespace vfgate::jsonl {
namespace {

// The calling thread's file-system credentials, set and restored with raw system calls: glibc's
// setfsuid() and setgroups() wrappers apply to every thread of the process (the dataplane's
// workers included), the system calls to the caller only.
struct ThreadCreds {
    uid_t fsuid;
    gid_t fsgid;
    std::vector<gid_t> groups;

    static ThreadCreds current() {
        ThreadCreds c{};
        // Called with an invalid id, these change nothing and return the current one.
        c.fsuid = static_cast<uid_t>(::syscall(SYS_setfsuid, -1));
        c.fsgid = static_cast<gid_t>(::syscall(SYS_setfsgid, -1));
        int n = ::getgroups(0, nullptr);
        c.groups.resize(static_cast<std::size_t>(std::max(n, 0)));
        if (n > 0) c.groups.resize(static_cast<std::size_t>(::getgroups(n, c.groups.data())));
        return c;
    }
    // Groups first: dropping fsuid 0 drops the capabilities setgroups needs.
    bool apply() const {
        if (::syscall(SYS_setgroups, groups.size(), groups.data()) != 0) return false;
        ::syscall(SYS_setfsgid, fsgid);
        ::syscall(SYS_setfsuid, fsuid);
        return static_cast<uid_t>(::syscall(SYS_setfsuid, -1)) == fsuid &&
               static_cast<gid_t>(::syscall(SYS_setfsgid, -1)) == fsgid;
    }
    // Back to root's: fsuid first, which brings back the capabilities.
    bool restore() const {
        ::syscall(SYS_setfsuid, fsuid);
        ::syscall(SYS_setfsgid, fsgid);
        return ::syscall(SYS_setgroups, groups.size(), groups.data()) == 0 &&
               static_cast<uid_t>(::syscall(SYS_setfsuid, -1)) == fsuid;
    }
};

}  // namespace

Peer peer_of(int fd) {
    Peer p{0, static_cast<uid_t>(-1), static_cast<gid_t>(-1), {}};
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return p;
    p = {cred.pid, cred.uid, cred.gid, {}};
    p.groups.resize(64);
    len = static_cast<socklen_t>(p.groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p.groups.data(), &len) != 0 &&
        errno == ERANGE) {
        p.groups.resize(len / sizeof(gid_t));
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p.groups.data(), &len) != 0) len = 0;
    }
    p.groups.resize(len / sizeof(gid_t));
    return p;
}

Result<void> peer_can_read(const Peer& peer, const std::string& path) {
    if (peer.uid == 0) return {};
    const std::string who = "uid " + std::to_string(peer.uid);
    if (peer.uid == static_cast<uid_t>(-1)) {
        return fail(ErrorKind::kInvalidArgument, "unknown peer: not reading " + path);
    }
    const ThreadCreds mine = ThreadCreds::current();
    if (mine.fsuid != 0) return {};  // not root: the open below checks our own access anyway
    const ThreadCreds theirs{peer.uid, peer.gid, peer.groups};
    if (!theirs.apply()) {
        // Nothing opened with half-applied credentials; if we can't get ours back, stop here
        // rather than serve on as someone else.
        if (!mine.restore()) std::abort();
        return fail(ErrorKind::kSystem, "can't take the credentials of " + who);
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    int err = errno;
    if (!mine.restore()) std::abort();
    if (fd < 0) {
        return tl::unexpected(Error::from_errno(err, who + " (the caller) may not read " + path));
    }
    ::close(fd);
    return {};
}

}  // namespace vfgate::jsonl
