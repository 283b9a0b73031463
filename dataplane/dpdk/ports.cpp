#include "ports.hpp"

#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include "burst.hpp"

namespace vfgate::dataplane {
namespace {

// A symmetric Toeplitz key: both directions of a flow hash alike, so conntrack stays per lcore.
constexpr std::array<std::uint8_t, 40> kSymmetricRssKey = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

std::uint16_t max_frame_mtu(const PortPlan& plan) {
    std::uint32_t mtu = config::kDefaultMtu;
    for (const auto& p : plan.ports) mtu = std::max(mtu, p.mtu);
    return static_cast<std::uint16_t>(mtu);
}

Result<std::uint16_t> find_port(const PortSpec& spec) {
    std::uint16_t id = 0;
    auto comma = spec.devargs.find(',');
    bool rep = spec.devargs.find(",representor=") != std::string::npos;
    if (!rep) {
        std::string name = spec.devargs.substr(0, comma);
        if (rte_eth_dev_get_port_by_name(name.c_str(), &id) == 0) return id;
        return fail(ErrorKind::kNotFound,
                    "device " + spec.devargs + " did not probe (the EAL message above says why)");
    }
    rte_dev_iterator it{};
    RTE_ETH_FOREACH_MATCHING_DEV(id, spec.devargs.c_str(), &it) {
        rte_eth_iterator_cleanup(&it);
        return id;
    }
    return fail(ErrorKind::kNotFound, "no representor port matches " + spec.devargs);
}

// Whether a DPDK bus and driver claim `devargs`'s device name. rte_dev_probe fails with EFAULT
// ("Bad address") when none does, which says nothing to a user who mistyped a driver.
Result<void> check_driver(const std::string& devargs) {
    rte_devargs da{};
    int r = rte_devargs_parse(&da, devargs.c_str());
    // Frees what the parse allocated; experimental in DPDK 22.11 (no stable way to do it).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    rte_devargs_reset(&da);
#pragma GCC diagnostic pop
    if (r == 0) return {};
    std::string device = devargs.substr(0, devargs.find(','));
    std::string driver = device;
    while (!driver.empty() && driver.back() >= '0' && driver.back() <= '9') driver.pop_back();
    return fail(ErrorKind::kNotFound, "no DPDK driver '" + driver + "' (device " + device + ")");
}

}  // namespace

std::string dpdk_error(int ret) { return rte_strerror(ret < 0 ? -ret : ret); }

std::optional<std::string> pci_of_netdev(const std::string& netdev) {
    char buf[256];
    std::string link = "/sys/class/net/" + netdev + "/device";
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return std::nullopt;
    std::string target(buf, static_cast<std::size_t>(n));
    return target.substr(target.find_last_of('/') + 1);
}

Result<rte_mempool*> create_mempool(const config::Dataplane& dp, const PortPlan& plan,
                                    unsigned workers) {
    std::uint64_t need = 0;
    for (const auto& p : plan.ports) {
        need += std::uint64_t{p.rx_queues} * kRxDesc + std::uint64_t{workers} * kTxDesc;
    }
    need += std::uint64_t{workers} * (plan.ports.size() + 2) * kBurstSize;
    constexpr unsigned kCache = 256;
    need += std::uint64_t{kCache} * (workers + 1);
    std::uint64_t n =
        dp.mbufs ? static_cast<std::uint64_t>(*dp.mbufs) : std::max<std::uint64_t>(need * 2, 8192);
    std::uint16_t room = static_cast<std::uint16_t>(std::max<std::uint32_t>(
        RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM + max_frame_mtu(plan) + 14 + 8));
    rte_mempool* pool = rte_pktmbuf_pool_create("vfgate_mbufs", static_cast<unsigned>(n), kCache, 0,
                                                room, static_cast<int>(rte_socket_id()));
    if (pool == nullptr) {
        std::uint64_t mb = n * (room + sizeof(rte_mbuf) + 64) >> 20;
        return fail(ErrorKind::kSystem,
                    "can't allocate " + std::to_string(n) + " packet buffers of " +
                        std::to_string(room) + " bytes (about " + std::to_string(mb) +
                        " MB) in dataplane.memory_mb " + std::to_string(dp.memory_mb) + ": " +
                        rte_strerror(rte_errno) + "; raise memory_mb or lower mbufs");
    }
    spdlog::info("mempool: {} buffers of {} bytes", n, room);
    return pool;
}

Result<OpenPort> open_port(const PortSpec& spec, unsigned workers, rte_mempool* pool, bool probe) {
    auto where = [&](const std::string& what) {
        return "port " + spec.name + " (" + spec.devargs + "): " + what;
    };
    if (probe) {
        if (auto d = check_driver(spec.devargs); !d) {
            return fail(d.error().kind(), where(d.error().message()));
        }
        int r = rte_dev_probe(spec.devargs.c_str());
        if (r < 0) return fail(ErrorKind::kSystem, where("probe: " + dpdk_error(r)));
    }
    auto id = find_port(spec);
    if (!id) return tl::unexpected(std::move(id.error()).context("port " + spec.name));
    OpenPort port{spec, *id, "", false, false};
    rte_eth_dev_info info{};
    if (int r = rte_eth_dev_info_get(port.dpdk_port, &info); r != 0) {
        return fail(ErrorKind::kSystem, where("device info: " + dpdk_error(r)));
    }
    port.driver = info.driver_name != nullptr ? info.driver_name : "?";
    port.vdev = !spec.pci;
    port.representor = (*info.dev_flags & RTE_ETH_DEV_REPRESENTOR) != 0;
    const auto txq = static_cast<std::uint16_t>(workers);
    if (spec.rx_queues > info.max_rx_queues || txq > info.max_tx_queues) {
        return fail(ErrorKind::kUnsupported,
                    where("needs " + std::to_string(spec.rx_queues) + " RX and " +
                          std::to_string(txq) + " TX queues (one per worker); the device has " +
                          std::to_string(info.max_rx_queues) + " and " +
                          std::to_string(info.max_tx_queues) +
                          " (for net_af_packet, add qpairs=N to its devargs)"));
    }
    // Zeroed as DPDK documents it: a zero RSS/VMDq pool count means "not used".
    rte_eth_conf conf{};  // NOLINT(bugprone-invalid-enum-default-initialization)
    std::array<std::uint8_t, 40> key = kSymmetricRssKey;
    if (spec.rx_queues > 1) {
        std::uint64_t hf =
            (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
        if (hf == 0) {
            return fail(ErrorKind::kUnsupported,
                        where("rx_queues " + std::to_string(spec.rx_queues) +
                              " needs RSS, which the device lacks; set rx_queues: 1"));
        }
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = key.data();
        conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(key.size());
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
    }
    if (int r = rte_eth_dev_configure(port.dpdk_port, spec.rx_queues, txq, &conf); r != 0) {
        return fail(ErrorKind::kSystem, where("configure: " + dpdk_error(r)));
    }
    std::uint16_t nb_rxd = kRxDesc, nb_txd = kTxDesc;
    rte_eth_dev_adjust_nb_rx_tx_desc(port.dpdk_port, &nb_rxd, &nb_txd);
    auto socket = static_cast<unsigned>(std::max(0, rte_eth_dev_socket_id(port.dpdk_port)));
    for (std::uint16_t q = 0; q < spec.rx_queues; ++q) {
        if (int r = rte_eth_rx_queue_setup(port.dpdk_port, q, nb_rxd, socket, nullptr, pool); r) {
            return fail(ErrorKind::kSystem,
                        where("RX queue " + std::to_string(q) + ": " + dpdk_error(r)));
        }
    }
    for (std::uint16_t q = 0; q < txq; ++q) {
        if (int r = rte_eth_tx_queue_setup(port.dpdk_port, q, nb_txd, socket, nullptr); r) {
            return fail(ErrorKind::kSystem,
                        where("TX queue " + std::to_string(q) + ": " + dpdk_error(r)));
        }
    }
    if (int r = rte_eth_dev_set_mtu(port.dpdk_port, static_cast<std::uint16_t>(spec.mtu)); r != 0) {
        // Virtual devices without an MTU (net_pcap, net_null) say ENOTSUP: not worth a warning.
        spdlog::log(r == -ENOTSUP ? spdlog::level::debug : spdlog::level::warn, "{}",
                    where("MTU " + std::to_string(spec.mtu) + " not set: " + dpdk_error(r)));
    }
    if (int r = rte_eth_promiscuous_enable(port.dpdk_port); r != 0 && r != -ENOTSUP) {
        spdlog::warn("{}", where("promiscuous mode: " + dpdk_error(r)));
    }
    if (int r = rte_eth_dev_start(port.dpdk_port); r != 0) {
        return fail(ErrorKind::kSystem, where("start: " + dpdk_error(r)));
    }
    spdlog::info("port {}: DPDK port {} ({}), {} RX / {} TX queues", spec.name, port.dpdk_port,
                 port.driver, spec.rx_queues, txq);
    return port;
}

void close_port(const OpenPort& port) {
    rte_eth_dev_info info{};
    bool have_info = rte_eth_dev_info_get(port.dpdk_port, &info) == 0;
    if (int r = rte_eth_dev_stop(port.dpdk_port); r != 0) {
        spdlog::warn("port {}: stop: {}", port.spec.name, dpdk_error(r));
    }
    if (port.vdev && have_info && info.device != nullptr) {
        // Closes the port and frees the device, so that the name can be probed again.
        rte_eth_dev_close(port.dpdk_port);
        if (int r = rte_dev_remove(info.device); r != 0) {
            spdlog::warn("port {}: remove device: {}", port.spec.name, dpdk_error(r));
        }
        return;
    }
    rte_eth_dev_close(port.dpdk_port);
}

}  // namespace vfgate::dataplane
