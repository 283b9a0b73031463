// What the control socket and telemetry show: status, ports, counters, the forwarding table.

#include <algorithm>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>

#include "dataplane.hpp"

namespace vfgate::dataplane {

StatusReply Dataplane::status() const {
    std::lock_guard lock(mu_);
    StatusReply r;
    for (const auto& w : workers_) r.worker_cores.push_back(w->lcore);
    auto up = std::chrono::steady_clock::now() - started_;
    char hostname[256] = {};
    ::gethostname(hostname, sizeof hostname - 1);
    r.host = cfg_.host_name.empty() ? std::string(hostname) : cfg_.host_name;
    r.pid = ::getpid();
    r.config = config_path_;
    r.control_socket = cfg_.dataplane ? cfg_.dataplane->control_socket : "";
    r.running = running_;
    r.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(up).count();
    r.generation = generation_;
    r.file_prefix = file_prefix_;
    r.main_core = cfg_.dataplane ? cfg_.dataplane->main_core : 0;
    r.hugepages = cfg_.dataplane && cfg_.dataplane->hugepages;
    r.ports = ports_.size();
    if (pool_ != nullptr) {
        r.mbufs = MbufUsage{.size = pool_->size,
                            .in_use = rte_mempool_in_use_count(pool_),
                            .available = rte_mempool_avail_count(pool_)};
    }
    return r;
}

PortsReply Dataplane::ports() const {
    std::lock_guard lock(mu_);
    PortsReply out;
    const Snapshot* s = current_.load(std::memory_order_acquire);
    for (const auto& p : ports_) {
        rte_eth_link link{};
        rte_eth_link_get_nowait(p.dpdk_port, &link);
        rte_ether_addr mac{};
        rte_eth_macaddr_get(p.dpdk_port, &mac);
        char mac_text[RTE_ETHER_ADDR_FMT_SIZE];
        rte_ether_format_addr(mac_text, sizeof mac_text, &mac);
        PortEntry e;
        e.name = p.spec.name;
        e.role = p.spec.role == PortRole::kUplink ? "uplink" : "guest";
        e.dpdk_port = p.dpdk_port;
        e.driver = p.driver;
        e.devargs = p.spec.devargs;
        e.device_mac = mac_text;
        e.link = link.link_status ? "up" : "down";
        e.speed_mbps = link.link_speed;
        e.rx_queues = p.spec.rx_queues;
        e.mtu = p.spec.mtu;
        if (!p.spec.vhost_socket.empty()) e.vhost_socket = p.spec.vhost_socket;
        if (s != nullptr) {
            if (PortIdx i = s->table.by_name(p.spec.name); i != kNoPort) {
                const PortInfo& info = s->table.port(i);
                if (info.role == PortRole::kGuest) {
                    e.mac = to_string(to_mac(info.mac));
                    e.vlan = info.vlan;
                    e.uplink = s->table.port(info.uplink).name;
                }
            }
        }
        out.push_back(std::move(e));
    }
    // VFs of legacy-mode PFs: no port of ours, listed so that nobody looks for them in vain.
    auto vfs = config::assign_vfs(cfg_);
    for (std::size_t g = 0; g < cfg_.guests.size(); ++g) {
        for (std::size_t n = 0; n < cfg_.guests[g].nics.size(); ++n) {
            const auto& nic = cfg_.guests[g].nics[n];
            if (config::is_software_switched(cfg_, nic)) continue;
            PortEntry e;
            e.name = cfg_.guests[g].name + "/" + nic.name;
            e.role = "switched by the NIC";
            e.pf = nic.pf;
            e.vf = vfs[g][n];
            e.mac = to_string(nic.mac);
            e.vlan = static_cast<std::uint16_t>(nic.vlan.value_or(0));
            out.push_back(std::move(e));
        }
    }
    return out;
}

StatsReply Dataplane::stats() const {
    std::lock_guard lock(mu_);
    StatsReply out;
    for (const auto& p : ports_) {
        std::uint64_t rx = 0, rx_bytes = 0, tx = 0, tx_bytes = 0;
        std::array<std::uint64_t, kDropReasonCount> drops{};
        for (const auto& w : workers_) {
            const PortCounters& c = w->ports[p.dpdk_port];
            rx += c.rx_packets.get();
            rx_bytes += c.rx_bytes.get();
            tx += c.tx_packets.get();
            tx_bytes += c.tx_bytes.get();
            for (std::size_t r = 0; r < kDropReasonCount; ++r) drops[r] += c.drops[r].get();
        }
        PortStats ps;
        for (std::size_t r = 0; r < kDropReasonCount; ++r) {
            ps.drops[std::string(kDropReasonNames[r])] = drops[r];
            ps.drops_total += drops[r];
        }
        std::uint64_t failed = drops[static_cast<std::size_t>(DropReason::kTxFailed)];
        rte_eth_stats hw{};
        rte_eth_stats_get(p.dpdk_port, &hw);
        ps.name = p.spec.name;
        ps.rx_packets = rx;
        ps.rx_bytes = rx_bytes;
        ps.tx_packets = tx - std::min(tx, failed);
        ps.tx_bytes = tx_bytes;
        ps.device = DeviceCounters{.ipackets = hw.ipackets,
                                   .opackets = hw.opackets,
                                   .imissed = hw.imissed,
                                   .ierrors = hw.ierrors,
                                   .oerrors = hw.oerrors,
                                   .rx_nombuf = hw.rx_nombuf};
        out.ports.push_back(std::move(ps));
    }
    for (const auto& w : workers_) {
        std::uint64_t busy = w->loop.busy_cycles.get(), idle = w->loop.idle_cycles.get();
        std::uint64_t pkts = w->loop.packets.get();
        // The accounting identity: packets_in + copies = packets_out + drops (exact when the
        // worker is between bursts; a read during one may see it a burst apart).
        std::uint64_t in = w->retired.rx, sent = w->retired.sent, dropped = w->retired.drops;
        for (const PortCounters& c : w->ports) {
            const auto failed = c.drops[static_cast<std::size_t>(DropReason::kTxFailed)].get();
            in += c.rx_packets.get();
            sent += c.tx_packets.get() - std::min(c.tx_packets.get(), failed);
            for (const auto& d : c.drops) dropped += d.get();
        }
        out.workers.push_back(WorkerStats{
            .index = w->index,
            .core = w->lcore,
            .packets = pkts,
            .packets_in = in,
            .copies = w->loop.copies.get(),
            .packets_out = sent,
            .drops = dropped,
            .busy_cycles = busy,
            .idle_cycles = idle,
            .cycles_per_packet =
                pkts == 0 ? 0.0 : static_cast<double>(busy) / static_cast<double>(pkts),
            .busy_percent = busy + idle == 0 ? 0.0
                                             : 100.0 * static_cast<double>(busy) /
                                                   static_cast<double>(busy + idle),
            .verdict_cache_hits = w->firewall.cached.hits.get(),
            .verdict_cache_misses = w->firewall.cached.misses.get(),
            .direct_bursts = w->loop.direct_bursts.get(),
        });
    }
    out.tsc_hz = rte_get_tsc_hz();
    return out;
}

FdbReply Dataplane::fdb() const {
    std::lock_guard lock(mu_);
    FdbReply out;
    const Snapshot* s = current_.load(std::memory_order_acquire);
    if (s == nullptr) return out;
    for (const PortInfo& p : s->table.ports()) {
        if (p.role != PortRole::kGuest) continue;
        out.push_back(FdbEntry{.uplink = s->table.port(p.uplink).name,
                               .vlan = p.vlan,
                               .mac = to_string(to_mac(p.mac)),
                               .port = p.name});
    }
    return out;
}

}  // namespace vfgate::dataplane
