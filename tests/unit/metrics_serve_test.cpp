// control/metrics: /metrics served over HTTP by Metrics::serve (prometheus-cpp's Exposer on
// civetweb), fetched here with a plain socket; and serve's errors.

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <netinet/in.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../common/promtool.hpp"
#include "metrics/metrics.hpp"

namespace {

using testing::HasSubstr;
using vfgate::ErrorKind;
using vfgate::control::Metrics;
using vfgate::control::MetricsSample;

MetricsSample sample() {
    MetricsSample s;
    s.dataplane_up = true;
    s.stats = nlohmann::json::parse(
        R"({"ports": [{"name": "up0", "rx_packets": 9, "drops": {"runt": 1}}]})");
    s.guests = {{"web", "running", 0, 0}};
    s.applies = 3;
    return s;
}

// A socket listening on 127.0.0.1 on a free port; closed when it goes.
struct Listener {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = 0;
    Listener() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 1) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            ADD_FAILURE() << "listen on 127.0.0.1:0: errno " << errno;
        }
        port = ntohs(a.sin_port);
    }
    ~Listener() { ::close(fd); }
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
};

// GET `path` from 127.0.0.1:`port` with HTTP/1.0; the whole response, headers included.
std::string http_get(int port, const std::string& path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
            char buf[4096];
            for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
        }
    }
    ::close(fd);
    return out;
}

// The families a text declares, from its "# TYPE" lines.
std::set<std::string> families(const std::string& text) {
    std::set<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l.starts_with("# TYPE ")) out.insert(l.substr(7, l.find(' ', 7) - 7));
    }
    return out;
}

TEST(MetricsServe, ServesTheFamiliesOfTextOverHttp) {
    std::atomic<int> calls = 0;
    Metrics m([&] {
        ++calls;
        return sample();
    });
    EXPECT_EQ(m.port(), 0);
    auto r = m.serve("127.0.0.1:0");
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_GT(m.port(), 0);

    const std::string response = http_get(m.port(), "/metrics");
    ASSERT_TRUE(response.starts_with("HTTP/1.1 200 OK\r\n")) << response;
    EXPECT_THAT(response, HasSubstr("\r\nContent-Type: text/plain"));
    const std::string body = response.substr(response.find("\r\n\r\n") + 4);
    EXPECT_THAT(body, HasSubstr("\nvfgate_port_rx_packets_total{port=\"up0\"} 9\n"));
    EXPECT_THAT(body, HasSubstr("\nvfgate_port_drops_total{port=\"up0\",reason=\"runt\"} 1\n"));
    EXPECT_EQ(calls.load(), 1);

    // The page is text() plus prometheus-cpp's own exposer_* families.
    const std::string text = m.text();
    EXPECT_THAT(body, HasSubstr(text));
    std::set<std::string> served = families(body);
    std::erase_if(served, [](const std::string& f) { return f.starts_with("exposer_"); });
    EXPECT_EQ(served, families(text));
    EXPECT_GE(served.size(), 8U);
    // What Prometheus scrapes passes promtool too, exposer_* families included.
    auto [status, out] = vfgate::testing::promtool_check_metrics(VFGATE_PROMTOOL, body);
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out, "");

    EXPECT_THAT(http_get(m.port(), "/other"), HasSubstr(" 404 "));
}

TEST(MetricsServe, AnAddressInUseIsAnErrorNamingIt) {
    Listener taken;
    const std::string address = "127.0.0.1:" + std::to_string(taken.port);
    Metrics m(sample);
    auto r = m.serve(address);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno(), EADDRINUSE);
    EXPECT_EQ(r.error().to_string(),
              "serve metrics on " + address + ": bind: Address already in use (EADDRINUSE)");
    EXPECT_EQ(m.port(), 0);
}

TEST(MetricsServe, AnAddressThatIsNotLocalIsAnErrorNamingIt) {
    Metrics m(sample);
    auto r = m.serve("192.0.2.1:0");  // TEST-NET-1: on no interface of this host
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().sys_errno(), EADDRNOTAVAIL) << r.error().to_string();
    EXPECT_THAT(r.error().to_string(), HasSubstr("192.0.2.1:0"));
}

TEST(MetricsServe, MalformedAddressesAreRefused) {
    Metrics m(sample);
    for (const char* bad : {"localhost:9477", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000",
                            "127.0.0.1:80,9100", "::1:80", "[127.0.0.1]:80", "127.0.0.1:-1"}) {
        auto r = m.serve(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().kind(), ErrorKind::kInvalidArgument) << bad;
        EXPECT_THAT(r.error().to_string(), HasSubstr(std::string("\"") + bad + "\"")) << bad;
    }
    EXPECT_EQ(m.port(), 0);
}

TEST(MetricsServe, ServingTwiceConflictsAndStopReleasesThePort) {
    Metrics m(sample);
    ASSERT_TRUE(m.serve("127.0.0.1:0"));
    const int port = m.port();
    auto again = m.serve("127.0.0.1:0");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().kind(), ErrorKind::kConflict);
    m.stop();
    EXPECT_EQ(m.port(), 0);
    EXPECT_EQ(http_get(port, "/metrics"), "");  // nothing listens any more
    auto r = m.serve("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(m.port(), port);
    EXPECT_THAT(http_get(port, "/metrics"), HasSubstr("vfgate_applies_total 3"));
}

// Debian's civetweb is built without IPv6: refused up front, rather than with civetweb's
// "problem binding to port".
TEST(MetricsServe, Ipv6IsRefusedAsUnsupported) {
    Metrics m(sample);
    auto r = m.serve("[::1]:9477");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::kUnsupported);
    EXPECT_THAT(r.error().to_string(), HasSubstr("\"[::1]:9477\": IPv6 is not supported"));
}

}  // namespace
