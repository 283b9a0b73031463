#pragma once
// A JSON-lines server on a Unix stream socket (the protocol of jsonl.hpp), for vfgate's
// daemons. Single-threaded: run() polls the listening socket, the clients and a stop fd
// (a signalfd) and calls handlers on the calling thread, one request at a time.
//
// No client can hold the others up or grow the server without bound (ServerOptions): requests
// are bounded lines (jsonl.hpp); a client's next request waits while its replies wait to be
// read; each poll round serves a few requests per client; a client that sends no request, or
// takes none of its replies, for a while is closed; and when the table is full a newcomer is
// told so and closed. A client then costs at most one request line, the pending-output bound
// and one reply.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

#include <vfgate/common/jsonl.hpp>

namespace vfgate::jsonl {

// Who is at the other end of a connection, as it was when it connected.
struct Peer {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups
};

struct ServerOptions {
    std::size_t max_clients = 64;
    std::size_t max_request_line = kMaxRequestLine;
    // While more of a client's replies than this wait to be sent, its next request waits too.
    std::size_t max_pending_output = 4u << 20;
    // A client that sends no complete request for this long is told so and closed.
    std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
    // A client that takes none of its waiting replies for this long is closed.
    std::chrono::milliseconds send_timeout = std::chrono::seconds(10);
    // Told why a client was closed or refused (one line, no newline); default: nobody.
    std::function<void(const std::string&)> log;
};

class Server {
  public:
    using Handler = std::function<Result<Json>(const Json& params)>;
    // A handler that needs to know who asks (say, to check what the peer may read).
    using PeerHandler = std::function<Result<Json>(const Json& params, const Peer& peer)>;

    explicit Server(ServerOptions options = {});
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();  // closes every socket and removes the socket file

    // Binds `path` (creating its directory) with `mode`. Refuses when another server answers
    // there; removes a stale socket file left by a crash.
    Result<void> listen(const std::string& path, mode_t mode);

    // Registers a method; "methods" is built in and lists them.
    void handle(std::string method, Handler handler);
    void handle(std::string method, PeerHandler handler);

    // Serves until `stop_fd` is readable; then calls `on_stop(stop_fd)` and returns if it says
    // true (a signal to exit), or goes on serving if false (say, SIGHUP handled).
    void run(int stop_fd, const std::function<bool(int)>& on_stop);

    // Handles one request line from `peer`; returns the reply line (for tests and run()).
    std::string dispatch(std::string_view line, const Peer& peer = {});

  private:
    using Clock = std::chrono::steady_clock;
    struct Client {
        int fd = -1;
        Peer peer;
        LineBuffer in;
        std::string out;
        std::size_t out_sent = 0;    // bytes at the front of `out` already sent
        Clock::time_point activity;  // connected, sent a request or took a reply
        bool eof = false;            // the peer sends nothing more
        bool more = false;           // stopped at the per-round budget with requests left
        bool closing = false;        // close once `out` is sent
        bool drop = false;           // close now, unsent output or not
        std::size_t pending() const { return out.size() - out_sent; }
    };
    void accept_clients(Clock::time_point now);
    void serve(Client& c, Clock::time_point now);
    void flush(Client& c, Clock::time_point now);
    void expire(Client& c, Clock::time_point now);
    void refuse(Client& c, const std::string& why);
    int poll_timeout_ms(Clock::time_point now) const;
    void note(const Client& c, const std::string& what) const;

    ServerOptions opts_;
    int listen_fd_ = -1;
    std::string path_;
    std::map<std::string, PeerHandler> handlers_;
    std::vector<Client> clients_;
    bool full_noted_ = false;  // "too many clients" logged since the table last had room
};

// The peer of a connected Unix socket (SO_PEERCRED, SO_PEERGROUPS); uid and gid are -1 (no
// one) when the kernel won't say.
Peer peer_of(int fd);

// Whether `peer` may read `path` with its own credentials (uid, gid, supplementary groups), as
// the kernel decides: opened on the calling thread with those as its file-system credentials
// (the process's other threads are not affected). Root peers may read anything. Control
// threads only.
Result<void> peer_can_read(const Peer& peer, const std::string& path);

}  // namespace vfgate::jsonl
