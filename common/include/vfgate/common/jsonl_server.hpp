#pragma once
// A JSON-lines server on a Unix stream socket (the protocol of jsonl.hpp), for vfgate's
// daemons. Single-threaded: run() polls the listening socket, the clients and a stop fd
// (a signalfd) and calls handlers on the calling thread, one request at a time.

#include <functional>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

#include <vfgate/common/jsonl.hpp>

namespace vfgate::jsonl {

class Server {
  public:
    using Handler = std::function<Result<Json>(const Json& params)>;
    static constexpr std::size_t kMaxClients = 64;

    Server() = default;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();  // closes every socket and removes the socket file

    // Binds `path` (creating its directory) with `mode`. Refuses when another server answers
    // there; removes a stale socket file left by a crash.
    Result<void> listen(const std::string& path, mode_t mode);

    // Registers a method; "methods" is built in and lists them.
    void handle(std::string method, Handler handler);

    // Serves until `stop_fd` is readable; then calls `on_stop(stop_fd)` and returns if it says
    // true (a signal to exit), or goes on serving if false (say, SIGHUP handled).
    void run(int stop_fd, const std::function<bool(int)>& on_stop);

    // Handles one request line; returns the reply line (for tests and run()).
    std::string dispatch(std::string_view line);

  private:
    struct Client {
        int fd = -1;
        LineBuffer in;
        std::string out;
        bool closing = false;
    };
    void accept_clients();
    void serve(Client& c);

    int listen_fd_ = -1;
    std::string path_;
    std::map<std::string, Handler> handlers_;
    std::vector<Client> clients_;
};

}  // namespace vfgate::jsonl
