// The typed queries on top of QmpClient::execute (vfgate/vm-launcher/qmp.hpp): each checks the
// shape of QEMU's reply instead of trusting it.

#include <cstdint>
#include <limits>
#include <optional>

#include <vfgate/vm-launcher/qmp.hpp>

namespace vfgate::vm {

using Json = nlohmann::json;

namespace {

Error unexpected_reply(const QmpClient& qmp, const std::string& command, const Json& reply) {
    constexpr std::size_t kMax = 60;
    std::string text = reply.dump(-1, ' ', true, Json::error_handler_t::replace);
    if (text.size() > kMax) text.replace(kMax, std::string::npos, "...");
    return Error(ErrorKind::kInternal, command + ": unexpected reply: " + text)
        .context("QMP " + qmp.socket_path());
}

// The integer at `key` if it is one in [min, INT_MAX]: a thread id from a confused or hostile
// peer must not wrap around into some other thread's.
std::optional<int> int_field(const Json& object, const char* key, int min) {
    auto it = object.find(key);  // end() when `object` is not an object
    if (it == object.end() || !it->is_number_integer()) return std::nullopt;
    const auto v = it->get<std::int64_t>();  // an unsigned beyond INT64_MAX comes out negative
    if (v < min || v > std::numeric_limits<int>::max()) return std::nullopt;
    return static_cast<int>(v);
}

}  // namespace

Result<QmpStatus> query_status(QmpClient& qmp, std::chrono::milliseconds timeout) {
    auto r = qmp.execute("query-status", nullptr, timeout);
    if (!r) return tl::unexpected(std::move(r.error()));
    auto status = r->find("status");
    auto running = r->find("running");
    if (status == r->end() || !status->is_string() || running == r->end() ||
        !running->is_boolean()) {
        return tl::unexpected(unexpected_reply(qmp, "query-status", *r));
    }
    return QmpStatus{status->get<std::string>(), running->get<bool>()};
}

Result<std::vector<VcpuThread>> query_vcpu_threads(QmpClient& qmp) {
    auto r = qmp.execute("query-cpus-fast");
    if (!r) return tl::unexpected(std::move(r.error()));
    if (!r->is_array()) return tl::unexpected(unexpected_reply(qmp, "query-cpus-fast", *r));
    std::vector<VcpuThread> out;
    for (const Json& cpu : *r) {
        auto index = int_field(cpu, "cpu-index", 0);
        auto thread = int_field(cpu, "thread-id", 1);
        if (!index || !thread) return tl::unexpected(unexpected_reply(qmp, "query-cpus-fast", cpu));
        out.push_back(VcpuThread{*index, *thread});
    }
    return out;
}

Result<std::string> query_accel(QmpClient& qmp, std::chrono::milliseconds timeout) {
    auto r = qmp.execute("query-kvm", nullptr, timeout);
    if (!r) return tl::unexpected(std::move(r.error()));
    auto enabled = r->find("enabled");
    if (enabled == r->end() || !enabled->is_boolean()) {
        return tl::unexpected(unexpected_reply(qmp, "query-kvm", *r));
    }
    return std::string(enabled->get<bool>() ? "kvm" : "tcg");
}

}  // namespace vfgate::vm
