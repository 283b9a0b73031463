#include "dataplane_run.hpp"

#include <fcntl.h>
#include <fstream>
#include <pcap/pcap.h>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace vfgate::test {

namespace fs = std::filesystem;

namespace {

// "g/a" -> "g_a": a switch port name as a file name.
std::string file_base(std::string port) {
    for (auto& c : port) {
        if (c == '/') c = '_';
    }
    return port;
}

}  // namespace

void write_pcap(const fs::path& path, const std::vector<Bytes>& frames) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
    if (d == nullptr) throw std::runtime_error("pcap_dump_open " + path.string());
    for (const auto& f : frames) {
        pcap_pkthdr h{};
        h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
        pcap_dump(reinterpret_cast<u_char*>(d), &h, reinterpret_cast<const u_char*>(f.data()));
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

std::vector<Bytes> read_pcap(const fs::path& path) {
    std::vector<Bytes> out;
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    if (p == nullptr) return out;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &h, &data) == 1) {
        const auto* b = reinterpret_cast<const std::byte*>(data);
        out.emplace_back(b, b + h->caplen);
    }
    pcap_close(p);
    return out;
}

DataplaneRun::DataplaneRun(std::string binary) : binary_(std::move(binary)) {
    std::string tmpl = (fs::temp_directory_path() / "vfgate-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
}

DataplaneRun::~DataplaneRun() {
    if (std::getenv("VFGATE_KEEP_TEST_DIRS") == nullptr) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

std::string DataplaneRun::pcap_devargs(const std::string& port, int index) const {
    auto base = (dir_ / file_base(port)).string();
    return "net_pcap" + std::to_string(index) + ",rx_pcap=" + base + ".in.pcap,tx_pcap=" + base +
           ".out.pcap";
}

int DataplaneRun::spawn(const std::string& config_path, const std::vector<std::string>& extra) {
    std::vector<std::string> args{binary_, "--config", config_path};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    auto log = (dir_ / "dataplane.log").string();
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int r = posix_spawn(&pid, binary_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    return r == 0 ? pid : -1;
}

int DataplaneRun::wait(int pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int DataplaneRun::run(const std::string& yaml, bool hugepages) {
    std::string text = yaml;
    for (auto at = text.find("$DIR"); at != std::string::npos; at = text.find("$DIR")) {
        text.replace(at, 4, dir_.string());
    }
    std::string head =
        "version: 1\ndataplane:\n  hugepages: " + std::string(hugepages ? "true" : "false") +
        "\n  memory_mb: 256\n  control_socket: " + socket() + "\n";
    auto cfg = dir_ / "vfgate.yaml";
    std::ofstream(cfg) << head << text;
    std::map<std::string, std::uint64_t> expect;
    for (const auto& [port, frames] : in_) {
        write_pcap(dir_ / (file_base(port) + ".in.pcap"), frames);
        expect[port] = frames.size();
    }
    // Ports without input still need an (empty) rx pcap.
    std::ifstream conf(cfg);
    std::stringstream ss;
    ss << conf.rdbuf();
    std::string all = ss.str();
    for (auto at = all.find("rx_pcap="); at != std::string::npos;
         at = all.find("rx_pcap=", at + 1)) {
        auto end = all.find_first_of(",\"\n", at);
        fs::path p = all.substr(at + 8, end - at - 8);
        if (!fs::exists(p)) write_pcap(p, {});
    }
    int pid = spawn(cfg.string());
    if (pid < 0) return -1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    bool done = false;
    while (!done && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        auto r = jsonl::call(socket(), "stats", jsonl::Json::object(), std::chrono::seconds(2));
        if (!r) {
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            continue;
        }
        stats_ = *r;
        done = true;
        for (const auto& p : stats_["ports"]) {
            auto it = expect.find(p["name"].get<std::string>());
            std::uint64_t want = it == expect.end() ? 0 : it->second;
            // A frame the device read but found no buffer for is lost there, and counted.
            const auto lost = p["device"].value("rx_nombuf", std::uint64_t{0});
            if (p["rx_packets"].get<std::uint64_t>() + lost < want) done = false;
        }
    }
    if (done) {
        auto call = [&](const char* method, jsonl::Json& out) {
            if (auto r =
                    jsonl::call(socket(), method, jsonl::Json::object(), std::chrono::seconds(2))) {
                out = *r;
            }
        };
        // The last burst is counted in after its RX and out or dropped a moment later (longer
        // if the worker is preempted): read until the counts add up and stand still (up to 2 s).
        auto totals = [&] {
            std::vector<std::uint64_t> t;
            for (const auto& w : stats_.value("workers", jsonl::Json::array())) {
                for (const char* k : {"packets_in", "copies", "packets_out", "drops"}) {
                    t.push_back(w.value(k, std::uint64_t{0}));
                }
            }
            return t;
        };
        for (int i = 0; i < 40; ++i) {
            const auto before = totals();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            call("stats", stats_);
            if (totals() == before && accounting_gap().empty()) break;
        }
        call("firewall.rules", rules_);
        if (before_stop_) before_stop_();
    }
    ::kill(pid, SIGTERM);
    return wait(pid, std::chrono::seconds(20));
}

std::vector<Bytes> DataplaneRun::output(const std::string& port) const {
    return read_pcap(dir_ / (file_base(port) + ".out.pcap"));
}

std::uint64_t DataplaneRun::drops(const std::string& port, const std::string& reason) const {
    for (const auto& p : stats_["ports"]) {
        if (p["name"] == port) return p["drops"].value(reason, std::uint64_t{0});
    }
    return ~0ULL;
}

std::string DataplaneRun::accounting_gap() const {
    std::string gap;
    if (!stats_.contains("workers")) return gap;
    for (const auto& w : stats_["workers"]) {
        auto get = [&](const char* k) { return w.value(k, ~std::uint64_t{0}); };
        if (get("packets_in") + get("copies") != get("packets_out") + get("drops")) {
            gap += "worker " + w["index"].dump() + ": " + w.dump() + "\n";
        }
    }
    return gap;
}

std::uint64_t DataplaneRun::hits(const std::string& nic, const std::string& dir,
                                 const std::string& rule) const {
    for (const auto& n : rules_) {
        if (n["nic"] != nic) continue;
        const auto& d = n[dir];
        if (rule == "(default)") return d["default_hits"].get<std::uint64_t>();
        if (rule == "(established)") return d["established"].get<std::uint64_t>();
        for (const auto& r : d["rules"]) {
            if (r["id"] == rule) return r["hits"].get<std::uint64_t>();
        }
    }
    return ~0ULL;
}

std::string DataplaneRun::log() const {
    std::ifstream in(dir_ / "dataplane.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace vfgate::test
