// Metrics: the Collectable that turns a sample into families on each scrape, and the
// prometheus-cpp Exposer that serves them. prometheus-cpp reports a failed bind with an
// exception that doesn't say why; the address is then bound once more here to learn errno.

#include "metrics.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <mutex>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <vfgate/common/net_types.hpp>

#include "families.hpp"

namespace vfgate::control {
namespace detail {

class Collector : public prometheus::Collectable {
  public:
    explicit Collector(SampleSource source) : source_(std::move(source)) {}

    // Called by the exposer's threads (one scrape each) and by text(): one at a time.
    std::vector<prometheus::MetricFamily> Collect() const override {
        std::lock_guard lock(mu_);
        try {
            return families(source_());
        } catch (const std::exception& e) {
            // Nothing may escape into civetweb's C threads; the scrape is empty instead.
            spdlog::warn("metrics: gathering a sample failed: {}", e.what());
        } catch (...) {
            spdlog::warn("metrics: gathering a sample failed");
        }
        return {};
    }

  private:
    SampleSource source_;
    mutable std::mutex mu_;  // serializes calls to source_
};

}  // namespace detail

namespace {

struct ListenAddress {
    IpAddr ip;
    std::uint16_t port = 0;
};

Result<ListenAddress> parse_listen_address(const std::string& text) {
    auto bad = [&](const std::string& why) {
        return fail(ErrorKind::kInvalidArgument, "metrics address \"" + text + "\": " + why +
                                                     "; expected IPV4:PORT, e.g. " +
                                                     kDefaultMetricsAddress);
    };
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return bad("no port");
    const std::string host = text.substr(0, colon);
    const std::string port = text.substr(colon + 1);
    const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
    if (auto v6 = bracketed ? parse_ip(host.substr(1, host.size() - 2)) : std::nullopt;
        v6 && v6->family == IpFamily::kV6) {
        // civetweb as Debian builds it (no USE_IPV6) can't listen on IPv6.
        return fail(ErrorKind::kUnsupported, "metrics address \"" + text +
                                                 "\": IPv6 is not supported (civetweb is built "
                                                 "without it); use an IPv4 address");
    }
    auto ip = parse_ip(host);
    if (!ip || ip->family != IpFamily::kV4) return bad("not an IPv4 address");
    ListenAddress out{*ip, 0};
    const char* end = port.data() + port.size();
    auto [ptr, ec] = std::from_chars(port.data(), end, out.port);
    if (port.empty() || ec != std::errc() || ptr != end) return bad("port not in 0-65535");
    return out;
}

// Why `a` can't be bound, as errno (0 when it can, or the socket can't even be made).
int bind_errno(const ListenAddress& a) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(a.port);
    std::memcpy(&sin.sin_addr, a.ip.bytes.data(), 4);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as civetweb does
    const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
    const int err = rc == 0 ? 0 : errno;
    ::close(fd);
    return err;
}

}  // namespace

Metrics::Metrics(SampleSource source)
    : collector_(std::make_shared<detail::Collector>(std::move(source))) {}

Metrics::~Metrics() = default;

Result<void> Metrics::serve(const std::string& listen_address) {
    const std::string what = "serve metrics on " + listen_address;
    if (exposer_) {
        return fail(ErrorKind::kConflict,
                    what + ": already serving on port " + std::to_string(port()));
    }
    auto address = parse_listen_address(listen_address);
    if (!address) return tl::unexpected(std::move(address.error()));
    try {
        // A scrape that stalls mid-request is dropped after 10 s, so it can't hold a thread.
        exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
            "listening_ports", listen_address, "num_threads", "2", "request_timeout_ms", "10000"});
        exposer_->RegisterCollectable(collector_);
    } catch (const std::exception& e) {
        exposer_.reset();
        if (const int err = bind_errno(*address); err != 0) {
            return tl::unexpected(Error::from_errno(err, "bind").context(what));
        }
        return fail(ErrorKind::kSystem, what + ": " + e.what());
    }
    spdlog::info("metrics: serving /metrics on {} (port {})", listen_address, port());
    return {};
}

void Metrics::stop() { exposer_.reset(); }

int Metrics::port() const {
    if (!exposer_) return 0;
    const auto ports = exposer_->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
}

std::string Metrics::text() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, collector_->Collect());
    return out.str();
}

}  // namespace vfgate::control
