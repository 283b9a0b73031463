// jsonl::Server against clients that pipeline, never read, idle or crowd it, or ask a blocking
// method: bounded work and memory per client, others served, stop prompt. Short timeouts keep
// it fast.

#include <atomic>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/common/jsonl_server.hpp>

#include "../common/raw_client.hpp"

namespace vfgate::jsonl {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using test::RawClient;
using testing::HasSubstr;

class ServerTest : public testing::Test {
  protected:
    fs::path dir_;
    std::string path_;
    int stop_[2] = {-1, -1};
    std::atomic<int> big_calls_ = 0;
    std::atomic<bool> release_ = false;  // lets "slow" return (else it does after 3 s)
    std::unique_ptr<Server> server_;
    std::thread thread_;

    void start(ServerOptions opts = {}) {
        char tmpl[] = "/tmp/vfgate-server-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        path_ = (dir_ / "s.sock").string();
        ASSERT_EQ(::pipe2(stop_, O_CLOEXEC), 0);
        server_ = std::make_unique<Server>(std::move(opts));
        ASSERT_TRUE(server_->listen(path_, 0600));
        server_->handle("echo", [](const Json& p) -> Result<Json> { return p; });
        server_->handle("big", [this](const Json&) -> Result<Json> {
            ++big_calls_;
            return std::string(100u << 10, 'x');
        });
        server_->handle("whoami", [](const Json&, const Peer& peer) -> Result<Json> {
            return Json{{"pid", peer.pid}, {"uid", peer.uid}};
        });
        // Waits as a handler asking a hung process would.
        server_->handle(
            "slow",
            [this](const Json&) -> Result<Json> {
                for (int i = 0; i < 300 && !release_; ++i)
                    std::this_thread::sleep_for(milliseconds(10));
                return "slow";
            },
            Blocking::kYes);
        thread_ = std::thread([this] { server_->run(stop_[0], [](int) { return true; }); });
    }
    // Stops the server; how long it took to return.
    milliseconds stop() {
        auto t0 = std::chrono::steady_clock::now();
        if (thread_.joinable()) {
            static_cast<void>(::write(stop_[1], "x", 1));
            thread_.join();
        }
        return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
    }
    void TearDown() override {
        stop();
        server_.reset();
        for (int fd : stop_) ::close(fd);
        fs::remove_all(dir_);
    }

    // Starts the server with `workers`, and a client whose "slow" request a worker runs now.
    std::unique_ptr<RawClient> asking_slow(std::size_t workers) {
        ServerOptions opts;
        opts.workers = workers;
        start(opts);
        auto c = std::make_unique<RawClient>(path_);
        EXPECT_TRUE(c->send_all("{\"method\": \"slow\"}\n"));
        std::this_thread::sleep_for(milliseconds(100));
        return c;
    }

    // Sends `line` over and over without reading, until `done` or the server closes the
    // connection (then sets `closed`).
    std::thread greedy(RawClient& c, std::string line, std::atomic<bool>& done,
                       std::atomic<bool>* closed = nullptr) {
        ::fcntl(c.fd(), F_SETFL, O_NONBLOCK);
        return std::thread([&c, line = std::move(line), &done, closed] {
            std::size_t off = 0;
            while (!done) {
                ssize_t n = ::send(c.fd(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
                if (n > 0) {
                    off = (off + static_cast<std::size_t>(n)) % line.size();
                } else if (n < 0 && errno == EAGAIN) {
                    std::this_thread::sleep_for(milliseconds(1));
                } else {
                    if (closed != nullptr) *closed = true;
                    return;
                }
            }
        });
    }
};

TEST_F(ServerTest, AnswersPipelinedRequestsInOrder) {
    start();
    RawClient c(path_);
    std::string burst;
    for (int i = 0; i < 200; ++i)
        burst += R"({"method": "echo", "params": {"i": )" + std::to_string(i) + "}}\n";
    ASSERT_TRUE(c.send_all(burst));
    for (int i = 0; i < 200; ++i) {
        auto line = c.read_line(milliseconds(2000));
        ASSERT_TRUE(line) << i;
        EXPECT_EQ(Json::parse(*line)["result"]["i"], i);
    }
}

TEST_F(ServerTest, ToldWhoAsks) {
    start();
    auto r = call(path_, "whoami");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)["pid"], ::getpid());
    EXPECT_EQ((*r)["uid"], ::getuid());
}

TEST_F(ServerTest, AClientThatNeverReadsIsNotReadEitherAndOthersAreServed) {
    ServerOptions opts;
    opts.max_pending_output = 256u << 10;
    opts.send_timeout = milliseconds(1000);
    start(opts);
    RawClient hog(path_);
    std::atomic<bool> done = false;
    std::atomic<bool> closed = false;
    auto t = greedy(hog, "{\"method\": \"big\"}\n", done, &closed);
    std::this_thread::sleep_for(milliseconds(300));
    // Replies of 100 KiB: the server stopped after ~256 KiB pending (plus the socket's buffer).
    EXPECT_LT(big_calls_.load(), 20);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(call(path_, "echo", Json::object(), milliseconds(500)));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(200));
    // Its output made no progress for 1 s: closed (reading would be progress: it doesn't).
    for (int i = 0; i < 200 && !closed; ++i) std::this_thread::sleep_for(milliseconds(10));
    EXPECT_TRUE(closed);
    done = true;
    t.join();
}

// Clients that never read their replies hold the server's total to its budget, not to their
// per-client bounds added up; when the send timeout closes them, others are served again.
TEST_F(ServerTest, ClientsThatNeverReadAreHeldToTheTotalBudget) {
    ServerOptions opts;
    opts.max_pending_output = 2u << 20;  // alone, each hog would get ~20 replies
    opts.max_buffered = 300u << 10;
    opts.send_timeout = milliseconds(1000);
    start(opts);
    std::vector<std::unique_ptr<RawClient>> hogs;
    std::vector<std::thread> threads;
    std::atomic<bool> done = false;
    for (int i = 0; i < 4; ++i) {
        hogs.push_back(std::make_unique<RawClient>(path_));
        threads.push_back(greedy(*hogs.back(), "{\"method\": \"big\"}\n", done));
    }
    std::this_thread::sleep_for(milliseconds(300));
    // 100 KiB replies: the budget's 3 and one over, plus what the sockets' buffers took.
    EXPECT_LT(big_calls_.load(), 30);
    // Closed once they took nothing for 1 s: then another client is answered.
    EXPECT_TRUE(call(path_, "echo", Json::object(), milliseconds(3000)));
    done = true;
    for (auto& t : threads) t.join();
}

// A blocking handler runs on a worker: another client is answered and the server stops at once
// meanwhile, while the asking client's next request waits for that reply, in order.
TEST_F(ServerTest, ABlockingHandlerHoldsUpOnlyItsOwnClient) {
    ServerOptions opts;
    opts.workers = 2;
    start(opts);
    RawClient asker(path_);
    ASSERT_TRUE(
        asker.send_all("{\"method\": \"slow\"}\n{\"method\": \"echo\", \"params\": {\"i\": 7}}\n"));
    std::this_thread::sleep_for(milliseconds(100));
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(call(path_, "echo", Json::object(), milliseconds(1000)));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(500));
    EXPECT_FALSE(asker.read_line(milliseconds(200))) << "echo answered before slow";
    release_ = true;
    auto first = asker.read_line(milliseconds(1000));
    auto second = asker.read_line(milliseconds(1000));
    ASSERT_TRUE(first && second);
    EXPECT_EQ(Json::parse(*first)["result"], "slow");
    EXPECT_EQ(Json::parse(*second)["result"]["i"], 7);
}

// A client that hangs up while a worker runs its request is dropped, not polled in a loop
// until the reply comes (its socket reports POLLHUP however often it is asked).
TEST_F(ServerTest, AClientGoneWhileAWorkerRunsItsRequestCostsNoCpu) {
    asking_slow(1);  // and gone at once
    auto cpu = [] {
        timespec t{};
        ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return milliseconds(t.tv_sec * 1000 + t.tv_nsec / 1'000'000);
    };
    const auto before = cpu();
    std::this_thread::sleep_for(milliseconds(500));
    EXPECT_LT(cpu() - before, milliseconds(150));
    release_ = true;
    EXPECT_TRUE(call(path_, "echo", Json::object(), milliseconds(1000)));
}

TEST_F(ServerTest, StopsPromptlyWhileABlockingHandlerRuns) {
    auto asker = asking_slow(1);
    EXPECT_LT(stop(), milliseconds(500));
    release_ = true;
}

TEST_F(ServerTest, StopsPromptlyWhileAClientPipelines) {
    start();
    RawClient hog(path_);
    std::atomic<bool> done = false;
    auto t = greedy(hog, "{\"method\": \"echo\"}\n", done);
    std::this_thread::sleep_for(milliseconds(200));
    EXPECT_LT(stop(), milliseconds(500));
    done = true;
    t.join();
}

TEST_F(ServerTest, AnIdleClientIsToldWhyAndClosed) {
    ServerOptions opts;
    opts.idle_timeout = milliseconds(300);
    start(opts);
    RawClient idle(path_);
    RawClient partial(path_);
    partial.send_all("{\"method\": \"ec");
    auto line = idle.read_line(milliseconds(1500));
    ASSERT_TRUE(line);
    EXPECT_THAT(*line, HasSubstr("no request for 300 ms; closing"));
    EXPECT_TRUE(idle.closed_within(milliseconds(1000)));
    EXPECT_TRUE(partial.closed_within(milliseconds(1000)));
    EXPECT_TRUE(call(path_, "echo"));
}

TEST_F(ServerTest, WhenFullANewcomerIsToldWhy) {
    ServerOptions opts;
    opts.max_clients = 4;
    start(opts);
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<RawClient>(path_));
    std::this_thread::sleep_for(milliseconds(100));
    auto r = call(path_, "echo");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), "too many clients (4); try again later");
    held.pop_back();
    // The server sees the hang-up on its next poll: retry until it has (up to 5 s).
    auto again = call(path_, "echo");
    for (int i = 0; !again && i < 50; ++i) {
        std::this_thread::sleep_for(milliseconds(100));
        again = call(path_, "echo");
    }
    EXPECT_TRUE(again) << again.error().to_string();
}

TEST_F(ServerTest, AnOverlongLineIsRefusedAndTheClientClosed) {
    ServerOptions opts;
    opts.max_request_line = 1000;
    start(opts);
    RawClient c(path_);
    c.send_all("{\"method\": \"echo\", \"params\": {\"x\": \"" + std::string(2000, 'x') + "\"}}\n");
    auto line = c.read_line(milliseconds(1000));
    ASSERT_TRUE(line);
    EXPECT_THAT(*line, HasSubstr("request line longer than 1000 bytes; closing"));
    EXPECT_TRUE(c.closed_within(milliseconds(1000)));
}

TEST(PeerCanRead, AsThePeerWouldWithItsOwnCredentials) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to take another uid's credentials";
    char tmpl[] = "/tmp/vfgate-peer-XXXXXX";
    fs::path dir = ::mkdtemp(tmpl);
    ::chmod(dir.c_str(), 0755);
    auto secret = dir / "secret";
    auto open = dir / "open";
    std::ofstream(secret) << "x";
    std::ofstream(open) << "x";
    ::chmod(secret.c_str(), 0600);
    ::chmod(open.c_str(), 0644);
    const Peer nobody{1, 65534, 65534, {}};
    auto r = peer_can_read(nobody, secret.string());
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("uid 65534 (the caller) may not read"));
    EXPECT_THAT(r.error().to_string(), HasSubstr("EACCES"));
    EXPECT_TRUE(peer_can_read(nobody, open.string()));
    EXPECT_TRUE(peer_can_read(Peer{1, 0, 0, {}}, secret.string()));
    // Group access counts, through a supplementary group too.
    ::chown(secret.c_str(), 0, 4242);
    ::chmod(secret.c_str(), 0640);
    EXPECT_TRUE(peer_can_read(Peer{1, 65534, 65534, {4242}}, secret.string()));
    // And our own credentials are back: root reads a file only root may.
    ::chmod(secret.c_str(), 0600);
    EXPECT_TRUE(std::ifstream(secret).good());
    fs::remove_all(dir);
}

}  // namespace
}  // namespace vfgate::jsonl
