#pragma once
// The firewall stage (config-v1 "Forwarding", docs/firewall.md), run on a burst after the
// switch stage has chosen each packet's way out. For every packet that a check applies to:
//   1. the L3/L4 headers are parsed once (a malformed header is dropped: `malformed`);
//   2. from a guest, anti-spoofing (source IP, ARP, neighbour discovery, RA and redirects);
//   3. ARP and neighbour discovery skip the rules; later fragments follow their first fragment;
//   4. the sender's egress firewall (if the sender is a guest with one) and the receiver's
//      ingress firewall (if the receiver is a guest with one): stateful ones look the
//      connection up first (one bulk lookup for the burst), and what conntrack doesn't settle
//      is classified, a batch per rule set; the packet passes if every side allows;
//   5. stateful sides that allowed a new connection record it.
// Floods (broadcast, multicast) pass the sender's egress rules in process(); each receiving
// guest's ingress rules are asked per copy with copy_refused() (rules only: a flood is no
// connection).
//
// Like the switch stage it sees a Burst and tables, never an mbuf: the frames' bytes come in
// Burst::frame. One stage per worker: it uses that worker's connection table and verdict cache
// (made and owned by the control thread, used on the worker's thread only), and owns its
// fragment table, scratch and counters.
//
// Hot path: no allocation, no locks. Reads the tables; writes the burst's steps, its own tables
// and counters, and the rule sets' hit counters (the worker's slots).

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "antispoof.hpp"
#include "burst.hpp"
#include "conn_table.hpp"
#include "conntrack.hpp"
#include "counters.hpp"
#include "fragment_table.hpp"
#include "l3l4.hpp"
#include "rule_set.hpp"
#include "verdict_cache.hpp"

namespace vfgate::dataplane {

// The firewall's part of a snapshot: built by the control thread, read-only afterwards.
struct FirewallTables {
    std::vector<std::shared_ptr<const NicFirewall>> nic;  // by PortIdx; null: none
    std::vector<GuestIdentity> identity;                  // by PortIdx (guests)
    std::vector<std::uint8_t> domain_filtered;            // by domain: a member has a firewall
    bool filtered = false;  // some NIC has a firewall (else the uplinks' bursts skip the stage)
    std::array<std::uint32_t, kCtStates> ct_timeout{};  // conntrack ticks, by CtState
    std::uint64_t fragment_lifetime = 0;                // in the unit of `now` (TSC cycles)

    // The compiled firewall of a NIC ("guest/nic") for its config, or null if there is none.
    using Compiled = std::function<std::shared_ptr<const NicFirewall>(const std::string& nic,
                                                                      const config::Firewall&)>;
    // The tables for `cfg`'s NICs in `t`, with times in cycles of `tsc_hz`. Fails on a NIC
    // with too many addresses or a firewall `compiled` doesn't have.
    static Result<FirewallTables> build(const config::Config& cfg, const SwitchTable& t,
                                        const Compiled& compiled, std::uint64_t tsc_hz);
};

// Connection tracking, per worker: the worker writes, the control thread reads.
struct CtCounters {
    Counter created, full, revoked;
    std::atomic<std::uint32_t> size{0};                 // entries in the table now
    std::atomic<std::uint32_t> denied{0};               // of which remember a denied flow
    std::atomic<std::uint64_t> expired{0}, evicted{0};  // the table's totals (ConnTable)
    void publish(const ConnTable& t) noexcept {
        size.store(t.size(), std::memory_order_relaxed);
        denied.store(t.denied(), std::memory_order_relaxed);
        expired.store(t.expired(), std::memory_order_relaxed);
        evicted.store(t.evicted(), std::memory_order_relaxed);
    }
};

// The verdict cache, per worker: the worker writes, the control thread reads.
struct VerdictCounters {
    Counter hits, misses;  // plain IPv4 TCP and UDP packets of a stateless firewall
};

class FirewallStage {
  public:
    // The burst's scratch (cls_, side_, lookup_side_, cand_ ...) is filled before it is read: left
    // uninitialized.
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
    explicit FirewallStage(unsigned worker = 0) : worker_(worker) {}

    // Decides the firewall's part of every packet's step: drops (with their reason) or lets
    // the switch's verdict stand. `now` is in the unit of the connection table's ticks (TSC
    // cycles).
    void process(Burst& b, const SwitchTable& t, const FirewallTables& fw,
                 std::uint64_t now) noexcept;

    // After process(), in packet order: for a flooded frame (`pkt` in the burst), why the copy
    // for guest port `to` is dropped, or nothing if it passes. Its ingress rules deny it
    // (`firewall`: the rule hit is counted), or it is a later fragment whose first fragment's
    // copy `to` didn't take (`fragment_unknown`). A first fragment's copy that passes is
    // remembered for `to`.
    std::optional<DropReason> copy_refused(std::uint16_t pkt, PortIdx to,
                                           const FirewallTables& fw) noexcept;

    // The connection table: set by the control thread before the first snapshot with a
    // stateful firewall is published, then used on the worker's thread only (this stage, and
    // the worker's sweep and listing between bursts).
    std::atomic<ConnTable*> conntrack{nullptr};
    CtCounters ct;
    // The verdict cache: likewise, before the first snapshot with a stateless firewall.
    std::atomic<VerdictCache*> verdicts{nullptr};
    VerdictCounters cached;

  private:
    enum class PacketClass : std::uint8_t {
        kUnchecked,      // nothing applied (or dropped before)
        kBypass,         // ARP or neighbour discovery: anti-spoofing only
        kRules,          // classified (FlowKey complete)
        kLaterFragment,  // passed because its first fragment did
        kPlain,          // plain IPv4 TCP or UDP on the established path, its FlowKey not made yet
    };

    // One firewall a packet meets: the sender's egress or the receiver's ingress. Made with
    // designated initializers: what isn't named starts not decided, with no leader, connection
    // or match.
    struct Side {
        const NicFirewall* fw = nullptr;
        std::uint16_t pkt = 0;
        Dir dir = kIngress;
        bool swapped = false;  // conn_key's orientation of this packet
        bool decided = false;  // conntrack (or re-validation) settled it, or it follows a leader
        bool allow = false;
        bool established = false;  // passed by conntrack
        bool sole = false;         // the packet's only side: what conntrack settles is its verdict
        bool final = false;        // a sole side conntrack settled: verdict applied, entry advanced
        bool looked_up = false;    // a candidate's: `pos` is known already, track() doesn't look
        bool deferred = false;  // an earlier packet of its connection changes the entry only when
                                // committed: decided then, in apply_verdicts() (decide_late())
        // An established side's entry as conntrack found it (flags, state): commit() makes it
        // again from these if a new connection evicts it before the side is committed.
        std::uint8_t ct_flags = 0;
        CtState ct_state = CtState::kUdpUnreplied;
        std::int16_t leader = -1;  // an earlier side of this burst on the same new connection
        std::int32_t pos = -1;     // its connection's position, or negative
        std::uint32_t match = 0;   // the rule's index + 1, 0 for the default
    };
    static_assert(sizeof(Side) == 32, "two sides a cache line");
    // An established side's entry, as commit() would need it to make it again.
    static void remember_entry(Side& sd, const CtEntry& e) noexcept {
        sd.match = e.rule;
        sd.ct_flags = e.flags;
        sd.ct_state = e.state;
    }

    // A packet whose only firewall is one stateful side: a candidate for the established path;
    // or one stateless side, for the verdict cache (`cached`).
    struct Candidate {
        const NicFirewall* fw;
        std::uint32_t hash;        // its connection key's (ConnTable::hash_of) or verdict key's
        std::uint32_t candidates;  // slots in the key's bucket (ConnTable::candidates)
        std::uint16_t pkt;
        Dir dir;
        bool cached;  // stateless: its key is in vkey_, its lookup in the verdict cache
        bool tcp;     // tracked TCP (is_tracked_tcp)
        std::uint8_t tcp_flags;
        // The flags of an entry whose originator's packets are this one's (entry_flags(): in
        // use, conn_key's orientation of this packet, its side): the entry's flags are these
        // for its originator's packets, and differ in both orientation and side for replies.
        std::uint8_t orig_flags;
    };

    // Established packets of a burst, counted once per run of one rule set (one add instead of
    // a serial chain of load-add-store on one counter per packet).
    struct EstablishedTally {
        const RuleSet* rs = nullptr;
        std::uint64_t n = 0;
    };

    bool inspect(Burst& b, const GuestIdentity& id, std::uint16_t i, bool from_guest) noexcept;
    std::uint16_t plain_candidates(Burst& b, const FirewallTables& fw, const NicFirewall* egress,
                                   bool tracked, bool caching) noexcept;
    // Packet `i` as candidate `c`, of firewall `fw` on side `dir` (its key is the caller's to
    // make; a stateless firewall's is a verdict key).
    Candidate& add_candidate(std::uint16_t c, std::uint16_t i, const NicFirewall* fw,
                             Dir dir) noexcept;
    void add_plain_candidate(std::uint16_t c, std::uint16_t i, const NicFirewall* fw, Dir dir,
                             std::span<const std::byte> l3) noexcept;
    // The flow key of a kPlain packet, for the general path.
    void complete(const Burst& b, std::uint16_t i) noexcept;
    // Adds a side; a stateful one (with `tracked`: there is a table) gets its connection key
    // and a place in the burst's lookup.
    void add_side(std::uint16_t pkt, const NicFirewall* fw, Dir dir, bool tracked) noexcept;
    void add_sides(std::uint16_t i, const NicFirewall* egress, const NicFirewall* ingress,
                   bool tracked) noexcept;
    // Adds candidate `c` as a side of its own, with its connection key and the position its
    // lookup found (`pos`, negative when absent), for the general path.
    void add_candidate_side(const Burst& b, std::uint16_t c, std::int32_t pos) noexcept;
    // Adds stateless candidate `c` that the verdict cache doesn't know as a side of its own, and
    // has the cache remember what the classifier makes of it.
    void add_uncached_side(const Burst& b, std::uint16_t c) noexcept;
    // The established path: settles the candidates whose live connection (or cached verdict)
    // decides them in one lookup; the others become sides for the general path.
    void settle_candidates(Burst& b, const FirewallTables& fw, ConnTable* table,
                           VerdictCache* cache, std::uint32_t tick) noexcept;
    template <bool kAfterLeft>
    std::uint32_t settle_from(Burst& b, const FirewallTables& fw, ConnTable* table,
                              VerdictCache* cache, std::uint32_t tick,
                              std::uint16_t first) noexcept;
    // After classify(): the cache learns the verdicts of add_uncached_side's sides.
    void fill_cache(VerdictCache& cache) noexcept;
    bool settle(Burst& b, const FirewallTables& fw, ConnTable& table, const Candidate& c,
                std::int32_t pos, std::uint32_t tick) noexcept;
    // The general path. `table` is the connection table, null before the first stateful
    // firewall (then nothing is tracked).
    bool track(Burst& b, const FirewallTables& fw, ConnTable* table, std::uint32_t tick) noexcept;
    void classify() noexcept;
    void apply_verdicts(Burst& b, const FirewallTables& fw, ConnTable* table,
                        std::uint32_t tick) noexcept;
    void decide_late(const FirewallTables& fw, ConnTable& table, Side& sd, std::uint16_t j,
                     std::uint32_t tick) noexcept;
    bool commit(const FirewallTables& fw, ConnTable* table, Side& sd, std::uint16_t j,
                std::uint32_t tick) noexcept;
    bool follows_entry(const ConnTable& table, Side& sd, std::uint16_t j,
                       std::uint32_t tick) const noexcept;
    void remember_denial(const FirewallTables& fw, ConnTable* table, const Side& sd,
                         std::uint16_t j, std::uint32_t tick) noexcept;
    void record(const FirewallTables& fw, ConnTable& table, CtEntry& e, CtState state,
                const Side& sd, std::uint32_t tick) noexcept;
    // A known connection's packet, on either path (firewall_stage_detail.hpp).
    void pass_established(const FirewallTables& fw, const RuleSet& rs, CtEntry& e, bool tcp,
                          std::uint8_t flags, bool reply, std::uint32_t tick) noexcept;
    void renew_denial(const FirewallTables& fw, const RuleSet& rs, CtEntry& e,
                      std::uint32_t tick) noexcept;
    void count_match(const RuleSet& rs, std::uint32_t match) const noexcept {
        rs.count(worker_, match == 0 ? rs.default_slot() : match - 1);
    }
    void tally(const RuleSet& rs) noexcept {
        if (&rs != tally_.rs) flush_tally();
        tally_.rs = &rs;
        ++tally_.n;
    }
    void flush_tally() noexcept {
        if (tally_.n != 0) tally_.rs->count(worker_, tally_.rs->established_slot(), tally_.n);
        tally_.n = 0;
    }

    unsigned worker_;
    std::uint64_t now_ = 0;  // process()'s, for copy_refused()
    FragmentTable fragments_;
    EstablishedTally tally_;

    // Scratch for one burst, filled before read: left uninitialized.
    std::array<Candidate, kBurstSize> cand_;           // NOLINT: scratch
    std::array<ConnKey, kBurstSize> cand_key_;         // NOLINT: scratch, by candidate
    std::array<VerdictKey, kBurstSize> vkey_;          // NOLINT: scratch, by (cached) candidate
    std::array<std::uint16_t, kBurstSize> fill_side_;  // NOLINT: scratch, for fill_cache()
    std::array<std::uint16_t, kBurstSize> fill_cand_;  // NOLINT: scratch, for fill_cache()
    std::uint16_t fills_ = 0;
    std::array<FlowKey, kBurstSize> key_;      // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::array<PacketClass, kBurstSize> cls_;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::array<Side, std::size_t{2} * kBurstSize> side_;                  // NOLINT: scratch
    std::array<ConnKey, std::size_t{2} * kBurstSize> conn_;               // NOLINT: scratch
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> lookup_side_;  // NOLINT: scratch
    std::uint16_t sides_ = 0;
    std::uint16_t lookups_ = 0;                  // stateful sides, in lookup_side_
    std::uint16_t cands_ = 0;                    // in cand_
    std::array<std::int32_t, kBurstSize> left_;  // NOLINT: scratch, for settle_from()
    std::uint16_t lefts_ = 0;
};

}  // namespace vfgate::dataplane
