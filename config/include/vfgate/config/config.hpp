#pragma once
// The vfgate configuration, version 1 (../shared/config-v1.md): one YAML file declares the host.
//
// These types are what every other component reads. A Config only ever comes out of
// config::load_file/load_string (load.hpp) after it has passed validation, so readers may rely on
// the documented ranges (a `vlan` is 1-4094, a port 0-65535, names are unique, references
// resolve, NIC uplinks are filled in). Keys whose absence means something stay std::optional;
// the defaults are the k* constants below and docs/config.md. Plain data: no locking, copy freely.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <vfgate/common/net_types.hpp>

namespace vfgate::config {

inline constexpr int kVersion = 1;

// Defaults of optional keys (docs/config.md lists them all).
inline constexpr int kDefaultMainCore = 0;
inline constexpr int kDefaultWorkerCore = 1;
inline constexpr int kDefaultMemoryMb = 512;
inline constexpr const char* kDefaultControlSocket = "/run/vfgate/dataplane.sock";
// The longest path a Unix socket address holds (sun_path's 108 bytes, less the terminating NUL).
inline constexpr std::size_t kMaxSocketPath = 107;
inline constexpr int kDefaultRxQueues = 1;
inline constexpr int kDefaultMtu = 1500;
inline constexpr const char* kDefaultVfDriver = "vfio-pci";
inline constexpr int kDefaultVcpus = 1;
inline constexpr int kDefaultGuestMemoryMb = 1024;
inline constexpr const char* kDefaultMetricsListen = "127.0.0.1:9477";
inline constexpr std::int64_t kDefaultConntrackCapacity = std::int64_t{1} << 20;
inline constexpr std::int64_t kDefaultVerdictCache = std::int64_t{1} << 18;

enum class EswitchMode { kLegacy, kSwitchdev };
enum class Accel { kAuto, kKvm, kTcg };
enum class RestartPolicy { kAlways, kOnFailure, kNever };
enum class NicType { kVf, kVhostUser, kDpdk };
enum class Action { kAllow, kDeny };
enum class Direction { kIngress, kEgress };  // ingress: toward the guest

// IP protocol numbers with names in the config.
inline constexpr int kProtoIcmp = 1;
inline constexpr int kProtoTcp = 6;
inline constexpr int kProtoUdp = 17;
inline constexpr int kProtoIcmpv6 = 58;

// Inclusive port range; a single port has lo == hi.
struct PortRange {
    std::int64_t lo = 0;
    std::int64_t hi = 0;
    bool operator==(const PortRange&) const = default;
};

struct Rule {
    std::string id;  // given, or "<direction>[<index>]"
    Action action = Action::kDeny;
    std::optional<std::int64_t> proto;  // IP protocol number; absent (or `any`) matches all
    std::vector<Cidr> src;              // empty: any source (a rule never has an empty list given)
    std::vector<Cidr> dst;
    std::vector<PortRange> src_ports;  // only with tcp or udp
    std::vector<PortRange> dst_ports;
    std::optional<std::int64_t> icmp_type;  // only with icmp or icmpv6
    std::optional<std::int64_t> icmp_code;
    bool operator==(const Rule&) const = default;
};

struct Firewall {
    bool stateful = true;
    Action ingress_default = Action::kDeny;
    Action egress_default = Action::kAllow;
    std::vector<Rule> ingress;
    std::vector<Rule> egress;
    bool operator==(const Firewall&) const = default;
};

struct Nic {
    std::string name;
    NicType type = NicType::kVhostUser;
    std::string pf;                  // type vf: name of a `pfs` entry
    std::optional<std::int64_t> vf;  // type vf: explicit index; absent means `auto`
    std::string devargs;             // type dpdk: DPDK devargs
    std::string uplink;              // filled with the first uplink when not given
    MacAddr mac;
    std::optional<std::int64_t> vlan;       // access VLAN; absent means untagged
    std::vector<Cidr> addresses;            // interface addresses (host bits are the address)
    std::optional<std::int64_t> rate_mbps;  // type vf
    std::optional<bool> trust;              // type vf
    std::string driver;                     // type vf: empty means the PF's vf_driver
    std::optional<std::int64_t> vlan_qos;   // type vf: 802.1p priority of the PF's tag
    std::optional<Firewall> firewall;       // absent: not filtered (anti-spoofing still on)
    bool operator==(const Nic&) const = default;
};

struct Boot {
    std::string image;   // a disk image, or
    std::string kernel;  // a kernel, with optional initrd and cmdline
    std::string initrd;
    std::string cmdline;
    bool operator==(const Boot&) const = default;
};

struct Guest {
    std::string name;
    std::optional<Boot> boot;  // absent: the guest is managed elsewhere; vfgate only does its NICs
    // VM settings, only for guests with `boot`:
    std::optional<std::int64_t> vcpus;      // default kDefaultVcpus
    std::optional<std::int64_t> memory_mb;  // default kDefaultGuestMemoryMb
    std::vector<std::int64_t> cpu_pinning;  // empty, or one host core per vCPU
    std::optional<Accel> accel;             // default kAuto
    std::optional<RestartPolicy> restart;   // default kOnFailure
    std::vector<Nic> nics;
    bool operator==(const Guest&) const = default;
};

struct Pf {
    std::string name;
    std::string device;  // PCI address or kernel netdev name
    std::int64_t num_vfs = 0;
    EswitchMode eswitch_mode = EswitchMode::kLegacy;
    std::string vf_driver = kDefaultVfDriver;
    bool operator==(const Pf&) const = default;
};

struct Uplink {
    std::string name;
    std::string device;  // PCI address or DPDK devargs
    std::int64_t rx_queues = kDefaultRxQueues;
    std::int64_t mtu = kDefaultMtu;
    // Firewall drops and steering in the NIC through rte_flow where its PMD takes them (an
    // addition to config-v1; docs/firewall.md, "Offload").
    bool offload = true;
    bool operator==(const Uplink&) const = default;
};

// Connection tracking (an addition to config-v1): how long an idle connection is remembered, in
// seconds, by state.
struct ConntrackTimeouts {
    std::int64_t tcp_syn_s = 30;             // SYN seen, no answer yet
    std::int64_t tcp_established_s = 86400;  // answered
    std::int64_t tcp_fin_s = 60;             // FIN from one or both sides
    std::int64_t tcp_closed_s = 10;          // after a RST
    std::int64_t udp_s = 30;                 // one way only (also other protocols)
    std::int64_t udp_replied_s = 180;        // both ways
    std::int64_t icmp_s = 30;                // ICMP echo
    std::int64_t denied_s = 10;              // a denied flow's verdict, remembered; 0: never
    bool operator==(const ConntrackTimeouts&) const = default;
};

struct Conntrack {
    std::int64_t capacity = kDefaultConntrackCapacity;  // entries per worker, fixed at start
    ConntrackTimeouts timeouts;
    bool operator==(const Conntrack&) const = default;
};

struct Dataplane {
    std::int64_t main_core = kDefaultMainCore;
    std::vector<std::int64_t> worker_cores{kDefaultWorkerCore};
    std::int64_t memory_mb = kDefaultMemoryMb;
    bool hugepages = true;
    std::string control_socket = kDefaultControlSocket;
    std::vector<std::string> eal_args;
    std::vector<Uplink> uplinks;
    // Packet buffers in the mempool (an addition to config-v1). Absent: derived from the ports'
    // queues; set it higher when a port holds many buffers itself (net_pcap infinite_rx keeps a
    // whole capture in buffers).
    std::optional<std::int64_t> mbufs;
    Conntrack conntrack;  // an addition to config-v1
    // Entries per worker of the stateless firewalls' verdict cache; 0: none (an addition to
    // config-v1).
    std::int64_t verdict_cache = kDefaultVerdictCache;
    bool operator==(const Dataplane&) const = default;
};

struct Config {
    std::int64_t version = kVersion;
    std::string host_name;  // empty: the system's host name
    // Where vfgated serves Prometheus /metrics, "IPV4:PORT" or "none" (an addition to
    // config-v1); empty: kDefaultMetricsListen.
    std::string metrics_listen;
    std::optional<Dataplane> dataplane;  // absent: no software switch on this host
    std::vector<Pf> pfs;
    std::vector<Guest> guests;
    bool operator==(const Config&) const = default;
};

// Names of enum values as the config spells them.
const char* to_string(EswitchMode v);
const char* to_string(Accel v);
const char* to_string(RestartPolicy v);
const char* to_string(NicType v);
const char* to_string(Action v);
const char* to_string(Direction v);

// "tcp", "udp", "icmp", "icmpv6", or the number.
std::string proto_name(std::int64_t proto);

// True for a NIC whose frames pass through the vfgate dataplane (vhost-user, dpdk, and vf on a
// switchdev PF, through its representor); false for a VF switched by the NIC in legacy mode.
bool is_software_switched(const Config& cfg, const Nic& nic);

// The directory vfgate's sockets live in: that of the dataplane's control socket.
std::string run_dir(const Config& cfg);

// The vhost-user socket the dataplane serves for a NIC of type vhost-user, and QEMU connects
// to: <run_dir>/vhost-<guest>-<nic>.sock.
std::string vhost_socket_path(const Config& cfg, const Guest& guest, const Nic& nic);
// The DPDK device the dataplane makes for that socket: net_vhost_<guest>_<nic>.
std::string vhost_device_name(const Guest& guest, const Nic& nic);

// VF indexes of `type: vf` NICs: explicit ones as given, `auto` ones the lowest index of their
// PF not taken, in config order. Indexed [guest][nic]; -1 for other NIC types.
std::vector<std::vector<std::int64_t>> assign_vfs(const Config& cfg);

// A VF that vf-manager gave a guest NIC (its state file, vfs.json).
struct GivenVf {
    std::string guest, nic;
    std::int64_t vf = 0;
};
// Sets each `vf: auto` NIC's index to the VF vf-manager gave it, when that VF is below its PF's
// num_vfs and no other NIC of the PF has it: an `auto` NIC keeps its VF when others come and go
// (docs/vf-manager.md), and the dataplane must open that VF's representor, not the one
// assign_vfs would pick in config order. NICs vf-manager gave nothing stay `auto`.
void pin_auto_vfs(Config& cfg, const std::vector<GivenVf>& given);

}  // namespace vfgate::config
