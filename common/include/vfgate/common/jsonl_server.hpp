#pragma once
// A JSON-lines server on a Unix stream socket (the protocol of jsonl.hpp), for vfgate's
// daemons. run() polls the listening socket, the clients and a stop fd (a signalfd) and calls
// handlers on the calling thread, one request at a time; except handlers registered as
// Blocking::kYes (ones that wait on other processes: QMP, a dataplane), which run on the
// server's own threads (ServerOptions::workers) so that run()'s thread, its stop fd and the
// other clients never wait on them. A client's requests are still answered in order: its next
// request waits for the reply to the one a thread runs.
//
// No client can hold the others up or grow the server without bound (ServerOptions): requests
// are bounded lines (jsonl.hpp); a client's next request waits while its replies wait to be
// read; each poll round serves a few requests per client; a client that sends no request, or
// takes none of its replies, for a while is closed; and when the table is full a newcomer is
// told so and closed. A client then costs at most one request line, the pending-output bound
// and one reply; all of them together, the total budget (max_buffered) and one reply each.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
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
    // All clients together: while their buffered requests and unsent replies take more than
    // this, no request is served and nothing read (replies still go out, and the send and idle
    // timeouts still close who holds it up). 0: only the per-client bounds.
    std::size_t max_buffered = 0;
    // Threads for Blocking::kYes handlers (made by listen()); 0: they run on run()'s thread.
    std::size_t workers = 0;
};

// Whether a handler may wait on something slow (another process); see Server.
enum class Blocking { kNo, kYes };

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

    // Registers a method; "methods" is built in and lists them. A Blocking::kYes handler runs
    // on a worker thread, at the same time as run()'s thread and the other workers: it must
    // be safe to call so.
    void handle(std::string method, Handler handler, Blocking blocking = Blocking::kNo);
    void handle(std::string method, PeerHandler handler, Blocking blocking = Blocking::kNo);

    // Serves until `stop_fd` is readable; then calls `on_stop(stop_fd)` and returns if it says
    // true (a signal to exit), or goes on serving if false (say, SIGHUP handled).
    void run(int stop_fd, const std::function<bool(int)>& on_stop);

    // Waits for the requests the workers run, sends their answers (as far as the sockets take
    // them), then stops the workers. Call it once run() has returned and before what the
    // handlers use goes away (the destructor calls it too, late).
    void stop_workers();

    // Handles one request line from `peer`; returns the reply line (for tests and run()).
    std::string dispatch(std::string_view line, const Peer& peer = {});

  private:
    using Clock = std::chrono::steady_clock;
    struct Method {
        PeerHandler handler;
        bool blocking = false;
    };
    struct Client {
        std::uint64_t id = 0;
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
        bool waiting = false;        // a worker runs its request: the next one waits
        std::size_t pending() const { return out.size() - out_sent; }
    };
    // A blocking request handed to the workers, and its reply coming back.
    struct Job {
        std::uint64_t client = 0;
        Request request;
        Peer peer;
    };
    struct Done {
        std::uint64_t client = 0;
        std::string reply;
    };
    std::string dispatch(const Request& req, const Peer& peer);
    void work();
    void take_replies(Clock::time_point now);
    void accept_clients(Clock::time_point now);
    void serve(Client& c, Clock::time_point now);
    void serve_line(Client& c, std::string_view line);
    void flush(Client& c, Clock::time_point now);
    void expire(Client& c, Clock::time_point now);
    void refuse(Client& c, const std::string& why);
    int poll_timeout_ms(Clock::time_point now) const;
    bool over_budget() const;
    void note(const Client& c, const std::string& what) const;

    ServerOptions opts_;
    int listen_fd_ = -1;
    std::string path_;
    std::map<std::string, Method> handlers_;
    std::vector<Client> clients_;
    std::uint64_t next_client_ = 1;
    bool full_noted_ = false;  // "too many clients" logged since the table last had room

    // The workers: jobs in, replies out (done_fd_, an eventfd, wakes run()).
    std::vector<std::thread> workers_;
    std::mutex work_mu_;
    std::condition_variable work_cv_;
    std::deque<Job> jobs_;
    std::vector<Done> done_;
    bool quit_ = false;
    int done_fd_ = -1;
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
