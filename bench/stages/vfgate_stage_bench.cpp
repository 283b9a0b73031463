// vfgate-stage-bench: the dataplane's stages alone, in cycles per packet, without PMDs or mbufs.
//
//   vfgate-stage-bench [--json] [--core N] CONFIG PCAP [UPLINK] [PACKETS]
//
// Reads a vfgate config (its firewalls compiled to rte_acl, on an EAL without hugepages) and a
// pcap of frames arriving on UPLINK (default: the first uplink), then runs them through L2
// parsing, the switch stage and the firewall stage a burst of 32 at a time, PACKETS in all
// (default 20M), as a worker does: the same tables, the same connection table. It prints the TSC
// cycles per packet of each stage and what became of the packets: as text, or with --json as
// one JSON object (vfgate-bench records it). It runs on CPU N (default 0). vfgate-bench's work
// directory has a config and pcaps to feed it (bench/README.md, "Stage cycles").

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <pcap/pcap.h>
#include <span>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>

#include <vfgate/config/load.hpp>

#include "acl.hpp"
#include "firewall_stage.hpp"
#include "switch_stage.hpp"

namespace vfgate::dataplane {
namespace {

using Frame = std::vector<std::byte>;

std::vector<Frame> read_frames(const char* path) {
    std::array<char, PCAP_ERRBUF_SIZE> err{};
    pcap_t* p = pcap_open_offline(path, err.data());
    if (p == nullptr) {
        (void)std::fprintf(stderr, "vfgate-stage-bench: %s: %s\n", path, err.data());
        return {};
    }
    std::vector<Frame> frames;
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &h, &data) == 1) {
        const auto* b = reinterpret_cast<const std::byte*>(data);
        frames.emplace_back(b, b + h->caplen);
    }
    pcap_close(p);
    return frames;
}

int fail(const std::string& what) {
    (void)std::fprintf(stderr, "vfgate-stage-bench: %s\n", what.c_str());
    return 1;
}

constexpr const char* kUsage =
    "usage: vfgate-stage-bench [--json] [--core N] CONFIG PCAP [UPLINK] [PACKETS]";

// `argv[1..]`: the positionals (`argv[0]` unused).
int run(int argc, char** argv, bool json) {
    if (argc < 3) return fail(kUsage);
    auto loaded = config::load_file(argv[1]);
    if (!loaded.ok()) return fail(loaded.errors[0].to_string());
    const config::Config& cfg = *loaded.config;
    if (!cfg.dataplane || cfg.dataplane->uplinks.empty()) return fail("no dataplane uplinks");
    const std::string uplink = argc > 3 ? argv[3] : cfg.dataplane->uplinks[0].name;
    std::uint64_t packets = 20'000'000;
    if (argc > 4) {
        char* end = nullptr;
        packets = std::strtoull(argv[4], &end, 10);
        if (end == argv[4] || *end != '\0' || packets == 0 || packets > (1ULL << 40)) {
            return fail(std::string("PACKETS: ") + argv[4] + ": want a count from 1 to 2^40");
        }
    }
    const std::vector<Frame> frames = read_frames(argv[2]);
    if (frames.empty()) return fail(std::string(argv[2]) + ": no frames");

    auto table = SwitchTable::build(cfg);
    if (!table) return fail(table.error().message());
    const PortIdx in = table->by_name(uplink);
    if (in == kNoPort) return fail("no uplink " + uplink);
    const ClassifierFactory acl =
        [](std::span<const config::Rule> rules) -> Result<std::shared_ptr<const Classifier>> {
        auto c = AclClassifier::build(rules, static_cast<int>(rte_socket_id()));
        if (!c) return tl::unexpected(c.error());
        return std::shared_ptr<const Classifier>(std::move(*c));
    };
    std::map<std::string, std::shared_ptr<const NicFirewall>> compiled;
    std::uint16_t zone = 0;
    for (const auto& g : cfg.guests) {
        for (const auto& n : g.nics) {
            if (!n.firewall) continue;
            ++zone;  // the NIC's zone, and its firewall's epoch
            auto f = NicFirewall::build(*n.firewall, zone, zone, 1, acl, nullptr);
            if (!f) return fail(f.error().message());
            compiled[g.name + "/" + n.name] = *f;
        }
    }
    const std::uint64_t hz = rte_get_tsc_hz();
    auto tables = FirewallTables::build(
        cfg, *table, [&](const std::string& nic, const config::Firewall&) { return compiled[nic]; },
        hz);
    if (!tables) return fail(tables.error().message());
    FirewallStage firewall(0);
    std::unique_ptr<ConnTable> conntrack;
    if (!compiled.empty()) {
        auto t = ConnTable::create(static_cast<std::uint32_t>(cfg.dataplane->conntrack.capacity),
                                   hz, heap_memory());
        if (!t) return fail(t.error().message());
        conntrack = std::move(*t);
        firewall.conntrack.store(conntrack.get());
    }
    std::unique_ptr<VerdictCache> verdicts;
    const auto cache_entries =
        static_cast<std::uint32_t>(cfg.dataplane ? cfg.dataplane->verdict_cache : 0);
    if (cache_entries != 0 && std::any_of(compiled.begin(), compiled.end(),
                                          [](const auto& f) { return !f.second->stateful; })) {
        auto c = VerdictCache::create(cache_entries, heap_memory());
        if (!c) return fail(c.error().message());
        verdicts = std::move(*c);
        firewall.verdicts.store(verdicts.get());
    }

    const SwitchStage sw;
    Burst b;
    b.in = in;
    b.count = kBurstSize;
    std::size_t next = 0;
    std::array<std::uint64_t, 3> cycles{};  // parse, switch, firewall
    std::array<std::uint64_t, kDropReasonCount> drops{};
    // One pass over the frames first, uncounted: connections made, caches warm.
    const std::uint64_t warm = (frames.size() + kBurstSize - 1) / kBurstSize * kBurstSize;
    for (std::uint64_t done = 0; done < warm + packets; done += kBurstSize) {
        const std::uint64_t t0 = rte_rdtsc();
        for (std::uint16_t i = 0; i < kBurstSize; ++i) {
            b.frame[i] = std::span<const std::byte>(frames[next]);
            parse_l2(b.frame[i], b.meta[i]);
            next = next + 1 == frames.size() ? 0 : next + 1;
        }
        const std::uint64_t t1 = rte_rdtsc();
        sw.process(b, *table);
        const std::uint64_t t2 = rte_rdtsc();
        firewall.process(b, *table, *tables, t2);
        const std::uint64_t t3 = rte_rdtsc();
        if (done < warm) continue;
        cycles[0] += t1 - t0;
        cycles[1] += t2 - t1;
        cycles[2] += t3 - t2;
        for (std::uint16_t i = 0; i < kBurstSize; ++i) {
            if (b.step[i].verdict == Verdict::kDrop) {
                ++drops[static_cast<std::size_t>(b.step[i].reason)];
            }
        }
    }
    const auto per = [packets](std::uint64_t c) {
        return static_cast<double>(c) / static_cast<double>(packets);
    };
    if (json) {
        // Names (the uplink's, the drop reasons') are config names and identifiers: no escaping.
        (void)std::printf(
            "{\"packets\": %llu, \"uplink\": \"%s\", \"frames\": %zu, \"cycles_per_packet\": "
            "{\"parse\": %.2f, \"switch\": %.2f, \"firewall\": %.2f, \"total\": %.2f}, "
            "\"drops\": {",
            static_cast<unsigned long long>(packets), uplink.c_str(), frames.size(), per(cycles[0]),
            per(cycles[1]), per(cycles[2]), per(cycles[0] + cycles[1] + cycles[2]));
        const char* sep = "";
        for (std::size_t r = 0; r < drops.size(); ++r) {
            if (drops[r] == 0) continue;
            const std::string reason(name(static_cast<DropReason>(r)));
            (void)std::printf("%s\"%s\": %llu", sep, reason.c_str(),
                              static_cast<unsigned long long>(drops[r]));
            sep = ", ";
        }
        (void)std::printf("}}\n");
        return 0;
    }
    (void)std::printf(
        "%llu packets from %s (%zu frames): cycles per packet: parse %.1f, switch %.1f, "
        "firewall %.1f, total %.1f\n",
        static_cast<unsigned long long>(packets), uplink.c_str(), frames.size(), per(cycles[0]),
        per(cycles[1]), per(cycles[2]), per(cycles[0] + cycles[1] + cycles[2]));
    for (std::size_t r = 0; r < drops.size(); ++r) {
        if (drops[r] == 0) continue;
        const std::string reason(name(static_cast<DropReason>(r)));
        (void)std::printf("  dropped %s: %llu\n", reason.c_str(),
                          static_cast<unsigned long long>(drops[r]));
    }
    return 0;
}

}  // namespace
}  // namespace vfgate::dataplane

int main(int argc, char** argv) {
    // The options, then the positionals.
    bool json = false;
    std::string core = "0";
    int first = 1;
    for (; first < argc; ++first) {
        const std::string_view a = argv[first];
        if (a == "--json") {
            json = true;
        } else if (a == "--core") {
            core = first + 1 < argc ? argv[++first] : "";
            if (core.empty() || core.size() > 4 ||
                core.find_first_not_of("0123456789") != std::string::npos) {
                return vfgate::dataplane::fail("--core: " + (core.empty() ? "" : core + ": ") +
                                               "want a CPU number");
            }
        } else if (a.starts_with("--")) {
            return vfgate::dataplane::fail(std::string(a) + ": unknown option (options first); " +
                                           vfgate::dataplane::kUsage);
        } else {
            break;
        }
    }
    const std::string prefix = "vfgate-stage-bench-" + std::to_string(::getpid());
    const char* eal[] = {
        argv[0],      "--no-huge",     "-m",           "1024",          "--no-pci",      "-l",
        core.c_str(), "--file-prefix", prefix.c_str(), "--log-level=3", "--no-telemetry"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        (void)std::fprintf(stderr, "vfgate-stage-bench: EAL init failed (--core %s)\n",
                           core.c_str());
        return 1;
    }
    const int r = vfgate::dataplane::run(argc - first + 1, argv + first - 1, json);
    rte_eal_cleanup();
    return r;
}
