// vfgate-trafgen: the DPDK traffic generator and receiver of vfgate-bench's NIC mode.
//
// Sends the frames of a pcap out of one port at a paced rate, stamps each with the TSC, receives
// on another port and measures loss and latency. Driven over stdin, one command per line, one
// JSON line of reply each (the search itself lives in vfgate-bench, bench/vfgate_bench/ndr.py):
//
//   trial RATE_MPPS SECONDS   -> {"sent":N,"received":N,"offered_mpps":R,
//                                 "latency_ns":{"p50":..,"p99":..,"p99.9":..,"max":..}}
//   max SECONDS               -> the same at the highest rate it can send ("max rate" probe)
//   quit
//
//   vfgate-trafgen EAL-ARGS -- --pcap FILE [--tx PORT] [--rx PORT]
//
// One lcore (the main one) does both: pacing by TSC, bursts of 32, receive between bursts.
// Frames are stamped after their UDP header (magic + TSC): at least 12 bytes of payload, which
// a 64-byte frame has. Frames received without the stamp are counted apart (`foreign`).

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "latency_histogram.hpp"

namespace {

constexpr std::uint16_t kBurst = 32;
constexpr std::size_t kStampAt = 14 + 20 + 8;  // after Ethernet, IPv4 and UDP headers
constexpr std::uint32_t kMagic = 0x76666762;   // "vfgb"

struct Args {
    std::string pcap;
    std::uint16_t tx = 0, rx = 1;
};

// A setup error: main prints it and exits with status 2 (nothing runs on the fast path yet).
struct Fatal : std::runtime_error {
    using std::runtime_error::runtime_error;
};
[[noreturn]] void die(const std::string& msg) { throw Fatal(msg); }

std::vector<std::vector<unsigned char>> read_pcap(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) die("cannot open " + path);
    std::vector<unsigned char> all((std::istreambuf_iterator<char>(f)), {});
    if (all.size() < 24 || all[0] != 0xd4 || all[1] != 0xc3 || all[2] != 0xb2 || all[3] != 0xa1) {
        die(path + ": not a little-endian microsecond pcap");
    }
    std::vector<std::vector<unsigned char>> frames;
    for (std::size_t off = 24; off + 16 <= all.size();) {
        std::uint32_t len = 0;
        std::memcpy(&len, &all[off + 8], 4);
        off += 16;
        if (off + len > all.size()) die(path + ": truncated record");
        if (len < kStampAt + 12) die(path + ": a frame is too short to carry the stamp");
        frames.emplace_back(all.begin() + static_cast<long>(off),
                            all.begin() + static_cast<long>(off + len));
        off += len;
    }
    if (frames.empty()) die(path + ": no frames");
    return frames;
}

void setup_port(std::uint16_t port, rte_mempool* pool) {
    if (!rte_eth_dev_is_valid_port(port)) die("no port " + std::to_string(port));
    // Zeroed as DPDK documents it: a zero RSS/VMDq pool count means "not used".
    rte_eth_conf conf{};  // NOLINT(bugprone-invalid-enum-default-initialization)
    if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr) != 0 ||
        rte_eth_dev_start(port) != 0) {
        die("cannot set up port " + std::to_string(port));
    }
    (void)rte_eth_promiscuous_enable(port);
}

struct Result {
    std::uint64_t sent = 0, received = 0, foreign = 0;
    double seconds = 0;
};

std::uint16_t receive(std::uint16_t port, vfgate::bench::LatencyHistogram& h, Result& r) {
    rte_mbuf* pkts[kBurst];
    const std::uint16_t n = rte_eth_rx_burst(port, 0, pkts, kBurst);
    const std::uint64_t now = rte_rdtsc();
    const double ns_per_cycle = 1e9 / static_cast<double>(rte_get_tsc_hz());
    for (std::uint16_t i = 0; i < n; ++i) {
        const rte_mbuf* m = pkts[i];
        std::uint32_t magic = 0;
        std::uint64_t stamp = 0;
        if (rte_pktmbuf_data_len(m) >= kStampAt + 12) {
            const auto* d = rte_pktmbuf_mtod(m, const unsigned char*);
            std::memcpy(&magic, d + kStampAt, 4);
            std::memcpy(&stamp, d + kStampAt + 4, 8);
        }
        if (magic == kMagic && stamp <= now) {
            ++r.received;
            h.record(static_cast<std::uint64_t>(static_cast<double>(now - stamp) * ns_per_cycle));
        } else {
            ++r.foreign;
        }
    }
    rte_pktmbuf_free_bulk(pkts, n);
    return n;
}

// Sends at `mpps` (0: as fast as it can) for `seconds`, then receives until 100 ms pass quietly.
Result trial(const Args& a, rte_mempool* pool,
             const std::vector<std::vector<unsigned char>>& frames, double mpps, double seconds,
             vfgate::bench::LatencyHistogram& h) {
    Result r;
    h.clear();
    const std::uint64_t hz = rte_get_tsc_hz();
    const std::uint64_t start = rte_rdtsc();
    const auto end = start + static_cast<std::uint64_t>(seconds * static_cast<double>(hz));
    const double per_cycle = mpps * 1e6 / static_cast<double>(hz);
    std::size_t next = 0;
    rte_mbuf* burst[kBurst];
    for (std::uint64_t now = start; now < end; now = rte_rdtsc()) {
        const auto due =
            mpps > 0 ? static_cast<std::uint64_t>(static_cast<double>(now - start) * per_cycle)
                     : r.sent + kBurst;
        if (due >= r.sent + kBurst && rte_pktmbuf_alloc_bulk(pool, burst, kBurst) == 0) {
            const std::uint64_t tsc = rte_rdtsc();
            for (auto* m : burst) {
                const auto& f = frames[next];
                next = next + 1 == frames.size() ? 0 : next + 1;
                auto* d = reinterpret_cast<unsigned char*>(
                    rte_pktmbuf_append(m, static_cast<std::uint16_t>(f.size())));
                std::memcpy(d, f.data(), f.size());
                std::memcpy(d + kStampAt, &kMagic, 4);
                std::memcpy(d + kStampAt + 4, &tsc, 8);
            }
            const std::uint16_t ok = rte_eth_tx_burst(a.tx, 0, burst, kBurst);
            if (ok < kBurst) rte_pktmbuf_free_bulk(burst + ok, kBurst - ok);
            r.sent += kBurst;  // offered: what the port refused is lost as well
        }
        receive(a.rx, h, r);
    }
    r.seconds = static_cast<double>(rte_rdtsc() - start) / static_cast<double>(hz);
    const std::uint64_t quiet = hz / 10;
    for (std::uint64_t last = rte_rdtsc(); rte_rdtsc() - last < quiet;) {
        if (receive(a.rx, h, r) != 0) last = rte_rdtsc();
    }
    return r;
}

void report(const Result& r, const vfgate::bench::LatencyHistogram& h) {
    std::printf(
        "{\"sent\":%llu,\"received\":%llu,\"foreign\":%llu,\"offered_mpps\":%.4f,"
        "\"latency_ns\":{\"p50\":%llu,\"p99\":%llu,\"p99.9\":%llu,\"max\":%llu}}\n",
        static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.received),
        static_cast<unsigned long long>(r.foreign),
        r.seconds > 0 ? static_cast<double>(r.sent) / r.seconds / 1e6 : 0.0,
        static_cast<unsigned long long>(h.quantile(0.5)),
        static_cast<unsigned long long>(h.quantile(0.99)),
        static_cast<unsigned long long>(h.quantile(0.999)),
        static_cast<unsigned long long>(h.max()));
    (void)std::fflush(stdout);
}

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (i + 1 >= argc) die("option " + k + " needs a value");
        const std::string v = argv[++i];
        try {
            if (k == "--pcap") {
                a.pcap = v;
            } else if (k == "--tx") {
                a.tx = static_cast<std::uint16_t>(std::stoul(v));
            } else if (k == "--rx") {
                a.rx = static_cast<std::uint16_t>(std::stoul(v));
            } else {
                die("unknown option " + k + " (want --pcap FILE [--tx PORT] [--rx PORT])");
            }
        } catch (const std::exception&) {
            std::string why = "option " + k;
            why += ": not a port number: ";
            why += v;
            die(why);
        }
    }
    if (a.pcap.empty()) die("--pcap FILE is required");
    return a;
}

int run(int argc, char** argv) {
    const int used = rte_eal_init(argc, argv);
    if (used < 0) die("EAL initialisation failed");
    const Args a = parse(argc - used, argv + used);
    const auto frames = read_pcap(a.pcap);
    rte_mempool* pool = rte_pktmbuf_pool_create("trafgen", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                                static_cast<int>(rte_socket_id()));
    if (pool == nullptr) die("no memory for the mbuf pool");
    setup_port(a.tx, pool);
    if (a.rx != a.tx) setup_port(a.rx, pool);
    vfgate::bench::LatencyHistogram h;
    std::printf("{\"ready\":true,\"frames\":%zu}\n", frames.size());
    (void)std::fflush(stdout);
    for (std::string line; std::getline(std::cin, line);) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        double rate = 0, seconds = 0;
        if (cmd == "quit") break;
        if (cmd == "trial" && in >> rate >> seconds && rate > 0 && seconds > 0) {
            report(trial(a, pool, frames, rate, seconds, h), h);
        } else if (cmd == "max" && in >> seconds && seconds > 0) {
            report(trial(a, pool, frames, 0, seconds, h), h);
        } else {
            std::printf(
                "{\"error\":\"bad command: %s (want: trial MPPS SECONDS | max SECONDS | quit)\"}\n",
                cmd.c_str());
            (void)std::fflush(stdout);
        }
    }
    rte_eth_dev_stop(a.tx);
    if (a.rx != a.tx) rte_eth_dev_stop(a.rx);
    rte_eal_cleanup();
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Fatal& e) {
        (void)std::fprintf(stderr, "vfgate-trafgen: %s\n", e.what());
        (void)rte_eal_cleanup();
        return 2;
    }
}
