// QmpClient against peers that are not a well-behaved QEMU: a missing or stale socket, a
// listener that never greets or never accepts, garbage, an endless line, deep nesting, a peer
// that hangs up mid-command or floods events, replies with wrong ids. Each is a socket in a temp
// dir served by a thread of the test. (tests/system/qmp_qemu_test.cpp runs the real QEMU.)

#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/vm-launcher/qmp.hpp>

namespace vfgate::vm {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using std::chrono::milliseconds;
using testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr const char* kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, )"
    R"("capabilities": ["oob"]}})"
    "\r\n";

// Sends all of `bytes`; false once the client is gone.
bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// The next line the client sends, parsed; nullopt on EOF or after 5 s.
std::optional<Json> read_command(int fd) {
    std::string line;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return std::nullopt;
        char c = 0;
        if (::recv(fd, &c, 1, 0) != 1) return std::nullopt;
        if (c == '\n') return Json::parse(line, nullptr, false);
        line += c;
    }
}

// Waits (up to 10 s) until the client closes its end.
void wait_for_close(int fd) {
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0 || ::recv(fd, buf, sizeof buf, 0) <= 0) return;
    }
}

// Plays QEMU's side of the greeting and the negotiation; the id of qmp_capabilities.
Json negotiate(int fd) {
    if (!send_all(fd, kGreeting)) return nullptr;
    auto caps = read_command(fd);
    if (!caps || caps->value("execute", "") != "qmp_capabilities") return nullptr;
    send_all(fd, Json{{"return", Json::object()}, {"id", (*caps)["id"]}}.dump() + "\r\n");
    return (*caps)["id"];
}

class QmpPeerTest : public testing::Test {
  protected:
    fs::path dir_;
    std::string path_;
    int listen_fd_ = -1;
    std::thread server_;

    void SetUp() override {
        // The default action: a write to a closed socket would kill this test.
        std::signal(SIGPIPE, SIG_DFL);
        char tmpl[] = "/tmp/vfgate-qmp-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = (dir_ / "qmp.sock").string();
    }
    void TearDown() override {
        if (server_.joinable()) server_.join();
        if (listen_fd_ >= 0) ::close(listen_fd_);
        fs::remove_all(dir_);
    }

    // Binds the socket; listens unless `backlog` is negative (a stale socket).
    void bind_socket(int backlog) {
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(listen_fd_, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
        ASSERT_EQ(::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
        if (backlog >= 0) {
            ASSERT_EQ(::listen(listen_fd_, backlog), 0);
        }
    }

    // Serves one connection with `script` on a thread; the connection is closed after it.
    void serve(std::function<void(int)> script) {
        bind_socket(4);
        server_ = std::thread([this, script = std::move(script)] {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 10000) <= 0) return;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) return;
            script(fd);
            ::close(fd);
        });
    }

    // A negotiated session with a peer running `script` after the negotiation.
    QmpClient session(std::function<void(int)> script) {
        serve([script = std::move(script)](int fd) {
            if (!negotiate(fd).is_null()) script(fd);
        });
        auto c = QmpClient::connect(path_, milliseconds(5000));
        if (!c) throw std::runtime_error(c.error().to_string());
        return std::move(*c);
    }

    std::string prefix() const { return "QMP " + path_ + ": "; }
};

milliseconds since(Clock::time_point t0) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
}

TEST_F(QmpPeerTest, NoSocketAtThePath) {
    auto c = QmpClient::connect(path_, milliseconds(1000));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
    EXPECT_EQ(c.error().to_string(), prefix() + "no such socket (is QEMU running?)");
}

TEST_F(QmpPeerTest, AStaleSocketIsRefused) {
    bind_socket(-1);  // bound, never listened on: what a dead QEMU leaves behind
    auto c = QmpClient::connect(path_, milliseconds(1000));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kNotFound);
    EXPECT_EQ(c.error().to_string(),
              prefix() + "connection refused (stale socket: is QEMU running?)");
}

TEST_F(QmpPeerTest, ASilentServerTimesOutNamingTheTimeout) {
    serve(wait_for_close);
    auto t0 = Clock::now();
    auto c = QmpClient::connect(path_, milliseconds(300));
    auto took = since(t0);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kConflict);
    EXPECT_THAT(c.error().to_string(), HasSubstr(prefix() + "no greeting within 300 ms (busy"));
    EXPECT_GE(took, milliseconds(300));
    EXPECT_LT(took, milliseconds(2000));
}

TEST_F(QmpPeerTest, AListenerThatNeverAcceptsIsBusy) {
    bind_socket(0);  // the kernel queues one connection, then refuses with EAGAIN
    int first = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(::connect(first, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    auto t0 = Clock::now();
    auto c = QmpClient::connect(path_, milliseconds(300));
    auto took = since(t0);
    ::close(first);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kConflict);
    EXPECT_THAT(c.error().to_string(), HasSubstr(prefix() + "busy"));
    EXPECT_THAT(c.error().to_string(), HasSubstr("300 ms"));
    EXPECT_LT(took, milliseconds(2000));
}

TEST_F(QmpPeerTest, GarbageIsNotQmp) {
    serve([](int fd) { send_all(fd, "hello, I am an SSH server\r\n"); });
    auto c = QmpClient::connect(path_, milliseconds(2000));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kInternal);
    EXPECT_THAT(c.error().to_string(),
                HasSubstr(prefix() + "greeting: not QMP: not valid JSON (at byte"));
    EXPECT_THAT(c.error().to_string(), HasSubstr("'hello, I am an SSH server'"));
}

TEST_F(QmpPeerTest, JsonThatIsNotAGreetingIsNotQmp) {
    serve([](int fd) { send_all(fd, "{\"ok\": true}\r\n"); });
    auto c = QmpClient::connect(path_, milliseconds(2000));
    ASSERT_FALSE(c);
    EXPECT_THAT(c.error().to_string(),
                HasSubstr(prefix() + "greeting: not QMP: expected {\"QMP\": {\"version\": ...}}, "
                                     "got '{\"ok\":true}'"));
}

// QEMU 10 started without -S has been seen to send its RESUME ahead of the greeting.
TEST_F(QmpPeerTest, AnEventAheadOfTheGreetingIsQueued) {
    serve([](int fd) {
        send_all(fd, R"({"event": "RESUME", "timestamp": {"seconds": 1}})"
                     "\r\n");
        if (negotiate(fd).is_null()) return;
        wait_for_close(fd);
    });
    auto c = QmpClient::connect(path_, milliseconds(5000));
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_TRUE(c->greeting().contains("QMP"));
    auto resume = c->wait_event("RESUME", milliseconds(0));
    ASSERT_TRUE(resume) << resume.error().to_string();
    EXPECT_EQ((*resume)["timestamp"]["seconds"], 1);
}

TEST_F(QmpPeerTest, AnEndlessLineIsCutAtTheLimit) {
    serve([](int fd) {
        const std::string chunk(1u << 20, ' ');
        while (send_all(fd, chunk)) {
        }
    });
    auto t0 = Clock::now();
    auto c = QmpClient::connect(path_, milliseconds(30000));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kInternal);
    EXPECT_EQ(c.error().to_string(),
              prefix() + "greeting: not QMP: a message longer than 16777216 bytes (the limit)");
    EXPECT_LT(since(t0), milliseconds(10000));
}

TEST_F(QmpPeerTest, DeepNestingIsRefusedWithoutRecursing) {
    serve([](int fd) {
        send_all(fd, std::string(1000000, '[') + std::string(1000000, ']') + "\r\n");
    });
    auto c = QmpClient::connect(path_, milliseconds(5000));
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().kind(), ErrorKind::kInternal);
    EXPECT_THAT(c.error().to_string(),
                HasSubstr(prefix() + "greeting: not QMP: nested deeper than 64 levels"));
}

TEST_F(QmpPeerTest, RepliesAreMatchedByIdAndEventsQueued) {
    auto c = session([](int fd) {
        auto cmd = read_command(fd);
        if (!cmd) return;
        send_all(fd, R"({"event": "STOP", "data": {}, "timestamp": {"seconds": 1}})"
                     "\r\n");
        send_all(fd, R"({"return": "late", "id": 1})"
                     "\r\n");  // the id of qmp_capabilities
        send_all(fd, R"({"event": "RESUME", "timestamp": {"seconds": 2}})"
                     "\r\n");
        send_all(fd,
                 Json{{"return", {{"echo", (*cmd)["arguments"]}}}, {"id", (*cmd)["id"]}}.dump() +
                     "\r\n");
        wait_for_close(fd);
    });
    auto r = c.execute("echo", Json{{"x", 1}});
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, Json::parse(R"({"echo": {"x": 1}})"));
    auto resume = c.wait_event("RESUME", milliseconds(0));  // queued: no wait
    ASSERT_TRUE(resume) << resume.error().to_string();
    EXPECT_EQ((*resume)["timestamp"]["seconds"], 2);
    auto rest = c.take_events();
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0]["event"], "STOP");
    EXPECT_TRUE(c.take_events().empty());
}

TEST_F(QmpPeerTest, QemuRefusalCarriesClassAndDesc) {
    auto c = session([](int fd) {
        auto cmd = read_command(fd);
        if (!cmd) return;
        send_all(fd, Json{{"error", {{"class", "GenericError"}, {"desc", "Invalid parameter"}}},
                          {"id", (*cmd)["id"]}}
                             .dump() +
                         "\r\n");
        wait_for_close(fd);
    });
    auto r = c.execute("set_link", Json{{"name", "x"}, {"up", true}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(r.error().to_string(), prefix() + "set_link: GenericError: Invalid parameter");
}

TEST_F(QmpPeerTest, AReplyToACommandNeverSentIsNotQmp) {
    auto c = session([](int fd) {
        if (!read_command(fd)) return;
        send_all(fd, "{\"return\": {}, \"id\": 999}\r\n");
        wait_for_close(fd);
    });
    auto r = c.execute("query-status");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kInternal);
    EXPECT_THAT(r.error().to_string(),
                HasSubstr(prefix() + "query-status: not QMP: a reply to a command never sent"));
}

TEST_F(QmpPeerTest, ALateReplyIsDroppedAndTheSessionGoesOn) {
    auto c = session([](int fd) {
        auto slow = read_command(fd);
        auto next = read_command(fd);  // sent after `slow` timed out
        if (!slow || !next) return;
        send_all(fd, Json{{"return", "slow"}, {"id", (*slow)["id"]}}.dump() + "\r\n");
        send_all(fd, Json{{"return", "next"}, {"id", (*next)["id"]}}.dump() + "\r\n");
        wait_for_close(fd);
    });
    auto slow = c.execute("slow", nullptr, milliseconds(200));
    ASSERT_FALSE(slow);
    EXPECT_EQ(slow.error().kind(), ErrorKind::kSystem);
    EXPECT_EQ(slow.error().to_string(), prefix() + "slow: no reply within 200 ms");
    auto next = c.execute("next");
    ASSERT_TRUE(next) << next.error().to_string();
    EXPECT_EQ(*next, "next");
}

TEST_F(QmpPeerTest, HangingUpMidCommandIsReportedAndSticks) {
    auto c = session([](int fd) { read_command(fd); });  // reads the command, then closes
    auto r = c.execute("query-status");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kSystem);
    EXPECT_EQ(r.error().to_string(), prefix() + "query-status: QEMU closed the connection");
    auto t0 = Clock::now();
    auto again = c.execute("query-kvm");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().to_string(), prefix() + "query-kvm: QEMU closed the connection");
    auto event = c.wait_event("SHUTDOWN", milliseconds(5000));
    ASSERT_FALSE(event);
    EXPECT_EQ(event.error().to_string(), prefix() + "event SHUTDOWN: QEMU closed the connection");
    EXPECT_LT(since(t0), milliseconds(100));
}

TEST_F(QmpPeerTest, WritingToAClosedPeerDoesNotRaiseSigpipe) {
    auto c = session([](int) {});  // the peer closes right after the negotiation
    server_.join();
    auto r = c.execute("query-status");  // SIGPIPE's default action would end the test here
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), prefix() + "query-status: QEMU closed the connection");
}

TEST_F(QmpPeerTest, AnEventFloodNeitherHoldsTheCallNorGrowsTheQueue) {
    std::atomic<bool> stop = false;
    auto c = session([&stop](int fd) {
        const std::string event = R"({"event": "RTC_CHANGE", "data": {"offset": 1}})"
                                  "\r\n";
        std::string burst;
        for (int i = 0; i < 100; ++i) burst += event;
        while (!stop && send_all(fd, burst)) {
        }
    });
    auto t0 = Clock::now();
    auto r = c.execute("query-status", nullptr, milliseconds(300));
    auto took = since(t0);
    stop = true;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), prefix() + "query-status: no reply within 300 ms");
    EXPECT_LT(took, milliseconds(2000));
    EXPECT_GT(c.events_dropped(), 0u);
    EXPECT_EQ(c.take_events().size(), kQmpMaxQueuedEvents);
}

TEST_F(QmpPeerTest, AFloodOfBigEventsIsBoundedInBytes) {
    // Events of 64 KiB: reading one costs the client more than writing it costs the peer, so the
    // socket never runs dry; the call must still end at its deadline.
    std::atomic<bool> stop = false;
    auto c = session([&stop](int fd) {
        const std::string event =
            Json{{"event", "BIG"}, {"data", std::string(64u << 10, 'x')}}.dump() + "\r\n";
        while (!stop && send_all(fd, event)) {
        }
    });
    auto t0 = Clock::now();
    auto r = c.execute("query-status", nullptr, milliseconds(1000));
    auto took = since(t0);
    stop = true;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), prefix() + "query-status: no reply within 1000 ms");
    EXPECT_LT(took, milliseconds(3000));
    EXPECT_GT(c.events_dropped(), 0u);
    auto events = c.take_events();
    EXPECT_FALSE(events.empty());
    EXPECT_LE(events.size(), kQmpMaxQueuedEventBytes / (64u << 10));
}

TEST_F(QmpPeerTest, WaitEventTimesOutNamingTheEvent) {
    auto c = session(wait_for_close);
    auto t0 = Clock::now();
    auto e = c.wait_event("SHUTDOWN", milliseconds(200));
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().kind(), ErrorKind::kSystem);
    EXPECT_EQ(e.error().to_string(), prefix() + "event SHUTDOWN: not received within 200 ms");
    EXPECT_GE(since(t0), milliseconds(200));
}

TEST_F(QmpPeerTest, TypedQueriesCheckTheShapeOfTheReply) {
    auto c = session([](int fd) {
        const Json replies[] = {
            Json{{"status", 5}, {"running", true}},  // query-status: status not a string
            Json::array({{{"cpu-index", 0}, {"thread-id", 4321}},
                         {{"cpu-index", 1}, {"thread-id", 1ull << 32}}}),  // beyond int
            Json{{"present", true}},  // query-kvm without "enabled"
            Json::array(
                {{{"cpu-index", 0}, {"thread-id", 4321}}, {{"cpu-index", 1}, {"thread-id", 4322}}}),
        };
        for (const Json& reply : replies) {
            auto cmd = read_command(fd);
            if (!cmd) return;
            send_all(fd, Json{{"return", reply}, {"id", (*cmd)["id"]}}.dump() + "\r\n");
        }
        wait_for_close(fd);
    });
    auto status = query_status(c);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().kind(), ErrorKind::kInternal);
    EXPECT_EQ(status.error().to_string(),
              prefix() + "query-status: unexpected reply: {\"running\":true,\"status\":5}");
    auto threads = query_vcpu_threads(c);
    ASSERT_FALSE(threads);
    EXPECT_EQ(
        threads.error().to_string(),
        prefix() + "query-cpus-fast: unexpected reply: {\"cpu-index\":1,\"thread-id\":4294967296}");
    auto accel = query_accel(c);
    ASSERT_FALSE(accel);
    EXPECT_THAT(accel.error().to_string(), HasSubstr(prefix() + "query-kvm: unexpected reply: "));
    threads = query_vcpu_threads(c);
    ASSERT_TRUE(threads) << threads.error().to_string();
    ASSERT_EQ(threads->size(), 2u);
    EXPECT_EQ((*threads)[1].cpu_index, 1);
    EXPECT_EQ((*threads)[1].thread_id, 4322);
}

TEST_F(QmpPeerTest, ArgumentsMustBeAnObject) {
    auto c = session(wait_for_close);
    auto r = c.execute("stop", Json::array({1, 2}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(r.error().to_string(), prefix() + "stop: arguments are not a JSON object");
}

}  // namespace
}  // namespace vfgate::vm
