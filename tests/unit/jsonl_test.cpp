// The JSON-lines protocol's bounds: nesting depth and line length on both ends, and what a
// client reports when the server refuses it.

#include <cstdlib>
#include <filesystem>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vfgate/common/jsonl.hpp>
#include <vfgate/common/jsonl_server.hpp>

namespace vfgate::jsonl {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

std::string deep(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string request_nested(std::size_t depth) {
    return "{\"method\": \"m\", \"params\": {\"a\": " + deep(depth) + "}}";
}

TEST(ParseRequest, TakesMethodAndParams) {
    auto r = parse_request(R"({"method": "m", "params": {"a": [[1]]}})");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->method, "m");
    EXPECT_EQ(r->params["a"][0][0], 1);
}

TEST(ParseRequest, RefusesDeepNestingWithoutRecursing) {
    auto r = parse_request(request_nested(100000));
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("nested deeper than 64 levels"));
}

TEST(ParseRequest, AcceptsNestingUpToTheLimit) {
    // The request object and "params" are two levels: 62 more fit.
    EXPECT_TRUE(parse_request(request_nested(62)));
    EXPECT_FALSE(parse_request(request_nested(63)));
}

TEST(ParseRequest, SaysWhatIsNotJson) {
    auto r = parse_request(R"({"method": "m", "params": {)");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("not valid JSON"));
    EXPECT_FALSE(parse_request(R"({"method": "m"} trailing)"));
    EXPECT_FALSE(parse_request(R"([1, 2])"));
}

TEST(Dispatch, DeepRequestToAnUnknownMethodIsAnErrorReply) {
    Server s;
    auto reply = Json::parse(s.dispatch(request_nested(100000)));
    EXPECT_EQ(reply["ok"], false);
    EXPECT_THAT(reply["error"].get<std::string>(), HasSubstr("nested deeper than 64"));
}

TEST(LineBuffer, SplitsLinesAndDropsCarriageReturns) {
    LineBuffer b;
    b.feed("one\r\ntw");
    EXPECT_EQ(b.next(), "one");
    EXPECT_EQ(b.next(), std::nullopt);
    b.feed("o\n\nthree");
    EXPECT_EQ(b.next(), "two");
    EXPECT_EQ(b.next(), "");
    EXPECT_EQ(b.next(), std::nullopt);
    EXPECT_FALSE(b.overflowed());
}

TEST(LineBuffer, ALineLongerThanTheLimitOverflowsEvenWhenComplete) {
    LineBuffer b;
    b.feed(std::string(kMaxRequestLine + 1, 'x') + "\nnext\n");
    EXPECT_TRUE(b.overflowed());
    EXPECT_FALSE(b.next().has_value());
}

TEST(LineBuffer, AnUnfinishedLineOverflowsOnceLongerThanTheLimit) {
    LineBuffer b;
    b.feed(std::string(kMaxRequestLine, 'x'));
    EXPECT_FALSE(b.overflowed());
    b.feed("x");
    EXPECT_TRUE(b.overflowed());
}

// A one-connection server on a socket in a temporary directory, answering with `reply` after
// reading `read_first` bytes of the request.
class FakeServer {
  public:
    FakeServer(std::string reply, std::size_t read_first) {
        char tmpl[] = "/tmp/vfgate-jsonl-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        path_ = dir_ + "/s.sock";
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
        EXPECT_EQ(::listen(fd_, 4), 0);
        thread_ = std::thread([this, reply = std::move(reply), read_first] {
            int c = ::accept(fd_, nullptr, nullptr);
            std::string got;
            char buf[4096];
            while (got.size() < read_first) {
                ssize_t n = ::recv(c, buf, sizeof buf, 0);
                if (n <= 0) break;
                got.append(buf, static_cast<std::size_t>(n));
            }
            std::string_view rest = reply;
            while (!rest.empty()) {
                ssize_t n = ::send(c, rest.data(), rest.size(), MSG_NOSIGNAL);
                if (n <= 0) break;
                rest.remove_prefix(static_cast<std::size_t>(n));
            }
            ::close(c);
        });
    }
    ~FakeServer() {
        thread_.join();
        ::close(fd_);
        fs::remove_all(dir_);
    }
    const std::string& path() const { return path_; }

  private:
    std::string dir_;
    std::string path_;
    int fd_ = -1;
    std::thread thread_;
};

TEST(Call, RefusesADeepReplyWithoutCrashing) {
    FakeServer server("{\"ok\": true, \"result\": " + deep(100000) + "}\n", 1);
    auto r = call(server.path(), "status");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("nested deeper than 64"));
}

TEST(Call, TakesAReplyOfManyMegabytes) {
    const std::string big(20u << 20, 'x');
    FakeServer server("{\"ok\": true, \"result\": \"" + big + "\"}\n", 1);
    auto r = call(server.path(), "status");
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->get<std::string>().size(), big.size());
}

TEST(Call, ReportsARefusalSentBeforeTheRequestWasRead) {
    // The server refuses without reading; a request bigger than the socket's buffers can't be
    // written whole, so the client's write fails (EPIPE): the refusal must still be what it
    // reports.
    FakeServer server("{\"ok\": false, \"error\": \"too many clients (64)\"}\n", 0);
    auto r = call(server.path(), "m", Json{{"pad", std::string(8u << 20, 'x')}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().to_string(), "too many clients (64)");
}

// A server that stopped accepting: once its backlog is full, a call gives up at its deadline
// instead of blocking in connect for ever.
TEST(Call, AServerThatAcceptsNothingTimesOutConnecting) {
    char tmpl[] = "/tmp/vfgate-jsonl-XXXXXX";
    const std::string dir = ::mkdtemp(tmpl);
    const std::string path = dir + "/s.sock";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 0), 0);
    std::vector<int> queued;  // connections the server never accepts
    for (int i = 0; i < 4; ++i) {
        const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (::connect(c, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(c);
            break;
        }
        queued.push_back(c);
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = call(path, "status", Json::object(), std::chrono::milliseconds(300));
    const auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().to_string(), HasSubstr("timed out"));
    EXPECT_LT(took, std::chrono::seconds(3));
    for (int c : queued) ::close(c);
    ::close(fd);
    fs::remove_all(dir);
}

}  // namespace
}  // namespace vfgate::jsonl
