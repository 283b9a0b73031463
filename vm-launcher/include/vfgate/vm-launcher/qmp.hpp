#pragma once
// A QMP (QEMU Machine Protocol) client: how vm-launcher's supervisor and vfgated drive a guest's
// QEMU through the unix socket it opens with `-qmp unix:PATH,server=on,wait=off`.
//
// Blocking, on one control thread; not thread-safe. Every call that reads has a deadline.
//
// The process at the socket may be a hung or misbehaving QEMU, or not QEMU at all; nothing it
// sends can crash, hang or exhaust the caller:
//   - every read polls with the call's deadline, also while the peer keeps sending;
//   - a message (one JSON object per line, ending in "\r\n") is at most kQmpMaxMessage bytes
//     and nests at most kQmpMaxDepth arrays and objects;
//   - each command carries an "id"; only the reply with that id answers it;
//   - queued events are bounded (kQmpMaxQueuedEvents, kQmpMaxQueuedEventBytes);
//   - writes never raise SIGPIPE.
//
// Errors read "QMP PATH: [COMMAND: ]what", e.g.
//   QMP /run/vfgate/guests/g1/qmp.sock: connection refused (stale socket: is QEMU running?)
//   QMP /run/vfgate/guests/g1/qmp.sock: frobnicate: CommandNotFound: The command frobnicate has
//   not been found
// and have these kinds:
//   kNotFound         no socket at the path, or a stale one (nothing listens: QEMU is gone);
//                     QEMU refused the command with DeviceNotFound
//   kConflict         connected but not greeted in time: busy (another client holds QEMU's
//                     single QMP connection; QEMU serves one at a time), or not QEMU
//   kSystem           a system call failed (errno set); no reply or event by the deadline;
//                     QEMU closed the connection
//   kUnsupported      QEMU refused the command: CommandNotFound, KVMMissingCap, DeviceNotActive
//   kInvalidArgument  QEMU refused the command with GenericError (bad arguments, wrong state);
//                     the caller's arguments are not a JSON object
//   kInternal         the peer broke the protocol: not JSON, not QMP, over a limit, a reply
//                     with an id never sent
// Once the stream is lost (closed, protocol broken, half a command written) every later call
// fails at once with the same reason. A reply that comes after its command timed out is known
// by its id and dropped: the session stays usable.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <vfgate/common/error.hpp>
#include <vfgate/common/jsonl.hpp>

namespace vfgate::vm {

// Longest QMP message read. QEMU's largest replies are far below: query-qmp-schema is 236 KB
// (QEMU 10.0, -machine none).
inline constexpr std::size_t kQmpMaxMessage = 16u << 20;
// Deepest nesting of arrays and objects read; QMP replies nest < 10.
inline constexpr std::size_t kQmpMaxDepth = jsonl::kMaxDepth;
// Events kept for take_events()/wait_event(), in number and in bytes of their text; beyond
// either, the oldest are dropped and counted (a flood of big events must not grow the queue).
inline constexpr std::size_t kQmpMaxQueuedEvents = 1000;
inline constexpr std::size_t kQmpMaxQueuedEventBytes = 16u << 20;

class QmpClient {
  public:
    // Connects, reads the greeting ({"QMP": {"version": ...}}) and negotiates
    // (qmp_capabilities), all within `timeout`; events that come ahead of the greeting are
    // queued. Fails at once (kNotFound) when nothing listens.
    // QEMU binds its socket a moment before it listens on it: a caller that has just started
    // QEMU retries on kNotFound until its own deadline (and while QEMU lives).
    static Result<QmpClient> connect(const std::string& socket_path,
                                     std::chrono::milliseconds timeout);

    // Runs one command (`arguments`: a JSON object, or null for none) and returns its "return"
    // value, or an error with QEMU's error class and "desc". Events that arrive meanwhile are
    // queued.
    Result<nlohmann::json> execute(const std::string& command,
                                   const nlohmann::json& arguments = nullptr,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

    // The first event named `name` ("SHUTDOWN", "STOP", ...): a queued one, else the next one
    // to arrive within `timeout`. It is removed from the queue; other events stay queued. The
    // whole event is returned: {"event": ..., "data": ..., "timestamp": ...}.
    Result<nlohmann::json> wait_event(const std::string& name, std::chrono::milliseconds timeout);

    // The queued events, oldest first; the queue is emptied. Reads nothing from the socket.
    std::vector<nlohmann::json> take_events();
    // Events dropped because the queue was full (kQmpMaxQueuedEvents, kQmpMaxQueuedEventBytes).
    std::uint64_t events_dropped() const { return events_dropped_; }

    // QEMU's greeting: {"QMP": {"version": {"qemu": {"major": 10, ...}, ...}, ...}}.
    const nlohmann::json& greeting() const { return greeting_; }
    const std::string& socket_path() const { return path_; }

    QmpClient(QmpClient&& other) noexcept;
    QmpClient& operator=(QmpClient&& other) noexcept;
    QmpClient(const QmpClient&) = delete;
    QmpClient& operator=(const QmpClient&) = delete;
    ~QmpClient();  // closes the socket (QEMU then accepts its next client)

  private:
    using Deadline = std::chrono::steady_clock::time_point;

    QmpClient(int fd, std::string path);

    // An error of this session: "QMP PATH: what".
    Error error(ErrorKind kind, std::string what, int sys_errno = 0) const;
    // `reason` (from the socket or the protocol) while doing `what`: "QMP PATH: what: reason".
    Error at(const std::string& what, const Error& reason) const;
    // Records the session as lost (later calls fail with `reason`) and returns `reason`.
    Error lose(Error reason);
    Result<void> send_line(const std::string& line, Deadline deadline);
    struct Message {
        nlohmann::json json;
        std::size_t bytes = 0;  // length of its line
    };
    // The next message, a JSON object; nullopt when none came before the deadline.
    Result<std::optional<Message>> read_message(Deadline deadline);
    Result<nlohmann::json> read_greeting(Deadline deadline, std::chrono::milliseconds timeout);
    // Whether `reply` answers the command `id`; false for a late reply to an earlier command;
    // an error (the session is lost) for an id never sent.
    Result<bool> check_reply_id(const nlohmann::json& reply, std::int64_t id);
    void queue_event(Message event);

    int fd_ = -1;
    std::string path_;
    nlohmann::json greeting_;
    jsonl::LineBuffer lines_{kQmpMaxMessage};
    std::deque<Message> events_;  // oldest first
    std::size_t queued_bytes_ = 0;
    std::uint64_t events_dropped_ = 0;
    std::int64_t next_id_ = 1;
    std::optional<Error> lost_;  // set once the stream is unusable
};

// Typed helpers on top of execute().

// query-status: "running", "paused", "prelaunch", "shutdown", ...
struct QmpStatus {
    std::string status;
    bool running = false;
};
Result<QmpStatus> query_status(QmpClient& qmp,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));

// query-cpus-fast: one entry per vCPU with the host thread (TID) that runs it, for pinning.
struct VcpuThread {
    int cpu_index = 0;
    int thread_id = 0;
};
Result<std::vector<VcpuThread>> query_vcpu_threads(QmpClient& qmp);

// "kvm" when KVM is enabled, else "tcg" (query-kvm).
Result<std::string> query_accel(QmpClient& qmp,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace vfgate::vm
