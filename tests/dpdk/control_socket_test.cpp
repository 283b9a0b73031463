// The dataplane's control socket against hostile or careless clients: what one client sends
// can't crash the dataplane, exhaust its memory or lock others out, and config.reload reveals
// nothing of a file the caller names.

#include <atomic>
#include <fstream>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/dataplane_run.hpp"
#include "../common/raw_client.hpp"

namespace vfgate::test {
namespace {

using jsonl::Json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::HasSubstr;
using testing::Not;

class ControlSocket : public testing::Test {
  protected:
    DataplaneRun run_{VFGATE_DATAPLANE};
    std::string cfg_ = (run_.dir() / "vfgate.yaml").string();
    int pid_ = -1;

    // A config with one guest NIC whose ingress firewall has `rules` rules.
    std::string config(int rules) const {
        std::string text =
            "version: 1\ndataplane:\n  hugepages: false\n  memory_mb: 512\n"
            "  control_socket: " +
            run_.socket() +
            "\n  uplinks:\n    - {name: up0, device: net_null0}\n"
            "guests:\n  - name: g\n    nics:\n"
            "      - name: a\n        type: dpdk\n        devargs: net_null1\n"
            "        mac: \"02:00:00:00:00:0a\"\n";
        if (rules == 0) return text;
        text += "        firewall:\n          ingress:\n";
        for (int i = 0; i < rules; ++i) {
            text += "            - {action: allow, proto: tcp, dst: 10." + std::to_string(i >> 16) +
                    "." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) +
                    ", dst_port: 80}\n";
        }
        return text;
    }

    void start(int rules = 0, const std::vector<std::string>& extra = {}) {
        std::ofstream(cfg_) << config(rules);
        pid_ = run_.spawn(cfg_, extra);
        for (int i = 0; i < 2400 && !up(); ++i) {
            if (::kill(pid_, 0) != 0) break;
            std::this_thread::sleep_for(milliseconds(25));
        }
        ASSERT_TRUE(up()) << run_.log();
    }
    bool up() {
        return jsonl::call(run_.socket(), "status", Json::object(), seconds(2)).has_value();
    }
    bool alive() const { return ::kill(pid_, 0) == 0; }

    void TearDown() override {
        if (pid_ < 0) return;
        ::kill(pid_, SIGTERM);
        EXPECT_EQ(run_.wait(pid_, seconds(20)), 0) << run_.log();
    }

    ProgramResult ctl(std::vector<std::string> args, const std::string& cwd = "") {
        std::vector<std::string> argv{VFGATECTL, "dataplane", "-s", run_.socket()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_program(argv, run_.dir(), cwd);
    }

    std::uint64_t generation() {
        auto s = jsonl::call(run_.socket(), "status");
        return s ? (*s)["generation"].get<std::uint64_t>() : 0;
    }

    std::size_t rss_kib() const {
        std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
        std::string key;
        std::size_t value = 0;
        while (in >> key) {
            if (key == "VmRSS:") {
                in >> value;
                return value;
            }
        }
        return 0;
    }
};

std::string nested(std::size_t depth) {
    return "{\"method\": \"no.such.method\", \"params\": {\"a\": " + std::string(depth, '[') +
           std::string(depth, ']') + "}}\n";
}

TEST_F(ControlSocket, DeeplyNestedRequestIsRefusedAndTheDataplaneServesOn) {
    start();
    RawClient c(run_.socket());
    ASSERT_TRUE(c.send_all(nested(100000)));
    auto reply = c.read_line(seconds(5));
    ASSERT_TRUE(reply) << "no reply; alive: " << alive();
    EXPECT_THAT(*reply, HasSubstr("nested deeper than 64"));
    EXPECT_TRUE(alive());
    EXPECT_TRUE(up());
}

TEST_F(ControlSocket, OverlongRequestLineIsRefusedByName) {
    start();
    RawClient c(run_.socket());
    c.send_all("{\"method\": \"status\", \"params\": {\"x\": \"" + std::string(3u << 20, 'x'));
    auto reply = c.read_line(seconds(5));
    ASSERT_TRUE(reply);
    EXPECT_THAT(*reply, HasSubstr("request line longer than 1048576 bytes"));
    EXPECT_TRUE(c.closed_within(seconds(2)));
    EXPECT_TRUE(up());
}

// A client that sends requests as fast as it can and never reads a reply: the dataplane stops
// reading it while its replies wait, so memory stays bounded and others are served.
TEST_F(ControlSocket, ClientThatNeverReadsCannotGrowMemoryOrStallOthers) {
    start(1000, {"--control-send-timeout", "3"});
    // The workers touch their memory in the first second or so: measure after that.
    std::size_t rss_before = rss_kib();
    for (int same = 0, i = 0; same < 3 && i < 50; ++i) {
        std::this_thread::sleep_for(milliseconds(200));
        std::size_t now = rss_kib();
        same = now == rss_before ? same + 1 : 0;
        rss_before = now;
    }
    std::atomic<bool> stop = false;
    std::atomic<bool> closed = false;
    RawClient greedy(run_.socket());
    ASSERT_TRUE(greedy.connected());
    ::fcntl(greedy.fd(), F_SETFL, O_NONBLOCK);
    std::thread sender([&] {
        std::string burst;
        for (int i = 0; i < 64; ++i) burst += "{\"method\": \"firewall.rules\"}\n";
        std::size_t off = 0;
        while (!stop) {
            ssize_t n = ::send(greedy.fd(), burst.data() + off, burst.size() - off, MSG_NOSIGNAL);
            if (n > 0) {
                off = (off + static_cast<std::size_t>(n)) % burst.size();
            } else if (n < 0 && errno == EAGAIN) {
                std::this_thread::sleep_for(milliseconds(1));
            } else {
                closed = true;  // by the dataplane
                break;
            }
        }
    });
    std::size_t rss_max = rss_before;
    auto slowest = milliseconds(0);
    for (int i = 0; i < 20; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        bool ok = jsonl::call(run_.socket(), "status", Json::object(), seconds(5)).has_value();
        auto took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
        EXPECT_TRUE(ok) << "call " << i;
        slowest = std::max(slowest, took);
        rss_max = std::max(rss_max, rss_kib());
        std::this_thread::sleep_for(milliseconds(200));
    }
    EXPECT_LT(slowest, milliseconds(1500));
    EXPECT_LT(rss_max - rss_before, 32u * 1024) << "KiB grown";
    // No progress on its output for 3 s: the dataplane has closed it.
    for (int i = 0; i < 400 && !closed; ++i) std::this_thread::sleep_for(milliseconds(10));
    EXPECT_TRUE(closed);
    stop = true;
    sender.join();

    // And it stops at once on SIGTERM, even with a greedy client connected.
    RawClient again(run_.socket());
    again.send_all(std::string(64, '{'));
    auto t0 = std::chrono::steady_clock::now();
    ::kill(pid_, SIGTERM);
    EXPECT_EQ(run_.wait(pid_, seconds(20)), 0) << run_.log();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(3));
    pid_ = -1;
}

TEST_F(ControlSocket, WhenFullTheNewClientIsToldWhy) {
    start();
    std::vector<std::unique_ptr<RawClient>> idle;
    for (int i = 0; i < 64; ++i) idle.push_back(std::make_unique<RawClient>(run_.socket()));
    ASSERT_TRUE(idle.back()->connected());
    std::this_thread::sleep_for(milliseconds(300));  // all accepted
    auto r = ctl({"status"});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("too many clients (64)"));
    EXPECT_THAT(r.err, Not(HasSubstr("Broken pipe")));
}

TEST_F(ControlSocket, IdleClientsAreClosedWithTheReason) {
    start(0, {"--control-idle-timeout", "1"});
    std::vector<std::unique_ptr<RawClient>> idle;
    for (int i = 0; i < 64; ++i) idle.push_back(std::make_unique<RawClient>(run_.socket()));
    idle[0]->send_all("{\"method\": \"sta");  // half a request keeps no one alive
    auto line = idle[1]->read_line(seconds(3));
    ASSERT_TRUE(line);
    EXPECT_THAT(*line, HasSubstr("no request for 1 s"));
    EXPECT_TRUE(idle[0]->closed_within(seconds(2)));
    auto r = ctl({"status"});
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(ControlSocket, ConntrackListingLimitIsCheckedNotClamped) {
    start(1);
    for (const Json& bad : {Json(-1), Json(1.7), Json(100001), Json("5"), Json(1ULL << 63)}) {
        auto r =
            jsonl::call(run_.socket(), "firewall.conntrack", Json{{"nic", "g/a"}, {"limit", bad}});
        ASSERT_FALSE(r) << bad.dump();
        EXPECT_THAT(r.error().to_string(), HasSubstr("bad params: limit: found " + bad.dump()));
    }
    auto ok = jsonl::call(run_.socket(), "firewall.conntrack", Json{{"nic", "g/a"}, {"limit", 5}});
    EXPECT_TRUE(ok) << ok.error().to_string();
    EXPECT_TRUE(alive());
}

TEST_F(ControlSocket, ReloadRefusesARelativePath) {
    start();
    auto r = jsonl::call(run_.socket(), "config.reload", Json{{"path", "vfgate.yaml"}});
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("not an absolute path"));
}

TEST_F(ControlSocket, VfgatectlResolvesARelativeReloadPathInItsOwnDirectory) {
    start();
    std::ofstream(run_.dir() / "other.yaml") << config(1);
    auto r = ctl({"reload", "other.yaml"}, run_.dir().string());
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("reloaded: generation"));
}

TEST_F(ControlSocket, ReloadErrorsDoNotQuoteTheFile) {
    start();
    auto secret = run_.dir() / "shadow";
    std::ofstream(secret) << "root:$y$j9T$s3cr3tSalt$hunter2hash:19000:0:99999:7:::\n"
                          << "s3cr3t-key: hunter2\n";
    ::chmod(secret.c_str(), 0600);
    auto before = generation();
    auto r = jsonl::call(run_.socket(), "config.reload", Json{{"path", secret.string()}});
    ASSERT_FALSE(r);
    const std::string msg = r.error().to_string();
    EXPECT_THAT(msg, HasSubstr("config rejected, nothing changed"));
    EXPECT_THAT(msg, Not(HasSubstr("s3cr3t")));
    EXPECT_THAT(msg, Not(HasSubstr("hunter2")));
    EXPECT_THAT(msg, Not(HasSubstr("root")));
    EXPECT_EQ(generation(), before);
    EXPECT_THAT(run_.log(), HasSubstr(secret.string())) << "the details go to the log";
}

TEST_F(ControlSocket, ReloadRefusesANulInThePath) {
    start();
    auto before = generation();
    auto r = jsonl::call(run_.socket(), "config.reload",
                         Json{{"path", cfg_ + std::string("\0.other", 7)}});
    ASSERT_FALSE(r) << "loaded " << cfg_ << " instead";
    EXPECT_THAT(r.error().to_string(), HasSubstr("NUL"));
    EXPECT_EQ(generation(), before);
}

TEST_F(ControlSocket, ReloadOfAFifoFailsAtOnce) {
    start();
    auto fifo = run_.dir() / "fifo.yaml";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto t0 = std::chrono::steady_clock::now();
    auto r = jsonl::call(run_.socket(), "config.reload", Json{{"path", fifo.string()}}, seconds(5));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(2));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("not a regular file"));
    EXPECT_TRUE(up());
}

// As uid/gid 65534 (a member of the socket's group, say): config.reload of `path`; the error
// text, or "" on success.
std::string reload_as_nobody(const std::string& socket, const std::string& path) {
    int fds[2];
    if (::pipe(fds) != 0) return "pipe";
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        std::string out = "can't become nobody";
        if (::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0) {
            auto r = jsonl::call(socket, "config.reload", Json{{"path", path}});
            out = r ? "" : r.error().to_string();
        }
        static_cast<void>(::write(fds[1], out.data(), out.size()));
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
    ::close(fds[0]);
    ::waitpid(pid, nullptr, 0);
    return out;
}

TEST_F(ControlSocket, ReloadLoadsOnlyWhatTheCallerCouldRead) {
    start();
    // Let an unprivileged process reach the socket, as the socket's group could.
    ::chmod(run_.dir().c_str(), 0755);
    ::chmod(run_.socket().c_str(), 0666);
    auto root_only = run_.dir() / "root-only.yaml";
    std::ofstream(root_only) << config(1);
    ::chmod(root_only.c_str(), 0600);
    ::chmod(cfg_.c_str(), 0644);
    auto before = generation();
    EXPECT_THAT(reload_as_nobody(run_.socket(), root_only.string()),
                HasSubstr("uid 65534 (the caller) may not read " + root_only.string()));
    EXPECT_EQ(generation(), before);
    EXPECT_EQ(reload_as_nobody(run_.socket(), cfg_), "");
    EXPECT_GT(generation(), before);
}

TEST_F(ControlSocket, RulesListsAHundredThousandRules) {
    start(100000);
    auto r = ctl({"rules"});
    EXPECT_EQ(r.status, 0) << r.err;
    std::size_t lines = std::count(r.out.begin(), r.out.end(), '\n');
    EXPECT_GE(lines, 100000u);
    EXPECT_THAT(r.out, HasSubstr("ingress[99999]"));
}

}  // namespace
}  // namespace vfgate::test
