#include "worker.hpp"

#include <span>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

namespace vfgate::dataplane {
namespace {

// Connection table positions the sweep checks per loop pass: with ~1M passes a second under
// load (far more when idle), a table of 1M positions is swept about twice a second.
constexpr std::uint32_t kSweepPerPass = 2;

// Hands `n` packets to the worker's TX queue on `port`; what the port refuses is freed and
// counted as tx_failed.
void transmit(Worker& w, std::uint16_t port, rte_mbuf** pkts, std::uint16_t n) noexcept {
    std::uint16_t sent = rte_eth_tx_burst(port, static_cast<std::uint16_t>(w.index), pkts, n);
    if (sent < n) {
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
        w.ports[port].drops[static_cast<std::size_t>(DropReason::kTxFailed)].add(n - sent);
    }
}

// Sends what `b` holds.
void flush(Worker& w, std::uint16_t port, TxBuffer& b) noexcept {
    transmit(w, port, b.pkts.data(), b.length);
    b.length = 0;
}

void flush_all(Worker& w) noexcept {
    for (std::uint16_t p = 0; p < RTE_MAX_ETHPORTS; ++p) {
        TxBuffer* b = w.tx[p].load(std::memory_order_acquire);
        if (b != nullptr && b->length != 0) flush(w, p, *b);
    }
}

// The packets a burst sends, in order: collected first, then appended to the TX buffers a run
// of same-port packets at a time (one copy and one counter update per run, not per packet).
// Floods can fan a burst out to many more frames than it has: a full outbox is sent on to the
// TX buffers (emit) before it takes more, so nothing is ever left out.
// Scratch, filled before it is read: left uninitialized, as zeroing it would cost every burst.
struct Outbox {  // NOLINT(cppcoreguidelines-pro-type-member-init)
    // Not a uint16_t: a store to `port` could then alias it, and the compiler would reload it
    // from memory after every packet (a store-forwarding chain through the whole burst).
    std::uint32_t count = 0;
    std::array<std::uint16_t, std::size_t{2} * kBurstSize> port;
    std::array<rte_mbuf*, std::size_t{2} * kBurstSize> mbuf;
};

// Hands what the outbox holds to the TX buffers (flushing each one that reaches a burst) and
// empties it.
void send_outbox(Worker& w, Outbox& o) noexcept {
    std::uint16_t i = 0;
    while (i < o.count) {
        std::uint16_t p = o.port[i];
        std::uint16_t j = i;
        std::uint64_t bytes = 0;
        while (j < o.count && o.port[j] == p) bytes += rte_pktmbuf_pkt_len(o.mbuf[j++]);
        PortCounters& c = w.ports[p];
        c.tx_packets.add(j - i);
        c.tx_bytes.add(bytes);
        TxBuffer& b = *w.tx[p].load(std::memory_order_relaxed);
        while (i < j) {
            std::uint16_t room = static_cast<std::uint16_t>(b.pkts.size() - b.length);
            std::uint16_t n = std::min<std::uint16_t>(room, j - i);
            std::copy_n(o.mbuf.data() + i, n, b.pkts.data() + b.length);
            b.length = static_cast<std::uint16_t>(b.length + n);
            i = static_cast<std::uint16_t>(i + n);
            if (b.length >= kBurstSize) flush(w, p, b);
        }
    }
    o.count = 0;
}

// Queues `m` for DPDK port `p`, after what is queued already.
void emit(Worker& w, Outbox& o, std::uint16_t p, rte_mbuf* m) noexcept {
    if (o.count == o.mbuf.size()) [[unlikely]] {
        send_outbox(w, o);
    }
    o.port[o.count] = p;
    o.mbuf[o.count++] = m;
}

// Pushes the access VLAN (PCP and DEI 0). False when the mbuf has no headroom or is shared.
bool push_tag(rte_mbuf*& m, std::uint16_t vlan) noexcept {
    m->vlan_tci = vlan;
    return rte_vlan_insert(&m) == 0;
}

// Sends a flooded frame to every other member of its domain (and, from a guest, the uplink).
// Every target but the last gets a deep copy, made once the next target is known; the last
// gets the original. From a guest the uplink is the last target, so only the original ever
// needs a tag pushed. A frame flooded to N targets counts N-1 copies, and each target's frame
// is then sent or counted as a drop (firewall, fragment_unknown, no_mbuf, tx_failed): received +
// copies = sent + drops, per worker.
void flood(Worker& w, Outbox& out_box, const Snapshot& s, std::uint16_t pkt, rte_mbuf* m,
           PortCounters& in) noexcept {
    const Burst& b = w.burst;
    const Step& st = b.step[pkt];
    const Domain& d = s.table.domain(st.domain);
    const bool from_guest = s.table.port(b.in).role == PortRole::kGuest;
    if (!from_guest && st.tag == TagOp::kPop) rte_vlan_strip(m);
    std::uint64_t targets = 0;
    PortIdx last = kNoPort;  // the latest target that admits the frame, not yet served
    auto take = [&](PortIdx p) {
        if (last != kNoPort) {
            rte_mbuf* c = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
            if (c == nullptr) {
                in.drops[static_cast<std::size_t>(DropReason::kNoMbuf)].add(1);
            } else {
                emit(w, out_box, s.dpdk_port[index(last)], c);
            }
        }
        last = p;
    };
    for (PortIdx p : d.members) {
        if (p == b.in) continue;
        ++targets;
        if (const auto why = w.firewall.copy_refused(pkt, p, s.firewall)) {
            in.drops[static_cast<std::size_t>(*why)].add(1);
            continue;
        }
        take(p);
    }
    if (from_guest) {
        ++targets;
        take(d.uplink);
    }
    if (targets > 1) w.loop.copies.add(targets - 1);
    if (last == kNoPort) {  // every target refused it (counted), or there was none
        if (targets == 0) in.drops[static_cast<std::size_t>(DropReason::kUnknownDst)].add(1);
        rte_pktmbuf_free(m);
        return;
    }
    if (from_guest && last == d.uplink && st.tag == TagOp::kPush && !push_tag(m, st.vlan)) {
        in.drops[static_cast<std::size_t>(DropReason::kNoMbuf)].add(1);
        rte_pktmbuf_free(m);
        return;
    }
    emit(w, out_box, s.dpdk_port[index(last)], m);
}

// Sends a full burst straight to its port when every packet that isn't dropped goes to one port
// untouched (no tag to push or pop) and that port's TX buffer is empty: the common case under
// load, without the outbox and the TX buffer. Its drops are counted and freed in bulk. False,
// having done nothing, for any other burst (output() then takes it). Under light load (bursts
// under 32) the TX buffers gather bursts.
//
// The check and the split are one pass without a branch per packet: the firewall's drops fall
// where its rules say, which no predictor foresees.
bool send_one_way(Worker& w, const Snapshot& s, std::uint16_t in_port) noexcept {
    const Burst& b = w.burst;
    if (b.count != kBurstSize) return false;
    // A burst whose first packet takes a tag or floods (an access port's traffic) is not split
    // in vain.
    if (const Step& first = b.step[0];
        first.verdict == Verdict::kFlood ||
        (first.verdict == Verdict::kUnicast && first.tag != TagOp::kNone)) {
        return false;
    }
    // NOLINTBEGIN(cppcoreguidelines-pro-type-member-init): scratch, filled before it is read
    std::array<rte_mbuf*, kBurstSize> sent, dropped;
    std::array<DropReason, kBurstSize> reason;
    // NOLINTEND(cppcoreguidelines-pro-type-member-init)
    std::uint16_t ns = 0, nd = 0;
    std::uint64_t bytes = 0;
    PortIdx out = kNoPort;
    bool other = false;  // a packet that isn't dropped, yet isn't sent `out` untouched
    for (std::uint16_t i = 0; i < kBurstSize; ++i) {
        const Step& st = b.step[i];
        rte_mbuf* m = w.mbufs[i];
        const bool drop = st.verdict == Verdict::kDrop;
        const bool untouched = st.verdict == Verdict::kUnicast && st.tag == TagOp::kNone;
        other |= !drop && (!untouched || (out != kNoPort && st.out != out));
        out = drop ? out : st.out;
        sent[ns] = m;
        dropped[nd] = m;
        reason[nd] = st.reason;
        ns = static_cast<std::uint16_t>(ns + (drop ? 0 : 1));
        nd = static_cast<std::uint16_t>(nd + (drop ? 1 : 0));
        bytes += drop ? 0 : b.meta[i].len;  // the mbuf's pkt_len, untouched since
    }
    if (other || out == kNoPort) return false;
    const std::uint16_t out_port = s.dpdk_port[index(out)];
    if (w.tx[out_port].load(std::memory_order_relaxed)->length != 0) return false;
    w.loop.direct_bursts.add(1);
    PortCounters& c = w.ports[out_port];
    c.tx_packets.add(ns);
    c.tx_bytes.add(bytes);
    transmit(w, out_port, sent.data(), ns);
    if (nd == 0) return true;
    PortCounters& in = w.ports[in_port];
    for (std::uint16_t j = 0; j < nd; ++j) in.drops[static_cast<std::size_t>(reason[j])].add(1);
    rte_pktmbuf_free_bulk(dropped.data(), nd);
    return true;
}

// Carries out each packet's step: send, tag and send, flood, or drop (counted, freed in bulk).
void output(Worker& w, const Snapshot& s, std::uint16_t in_port) noexcept {
    if (send_one_way(w, s, in_port)) return;
    Burst& b = w.burst;
    PortCounters& in = w.ports[in_port];
    std::array<rte_mbuf*, kBurstSize> dropped;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::uint16_t nd = 0;
    Outbox out;  // NOLINT(cppcoreguidelines-pro-type-member-init): scratch, see Outbox
    for (std::uint16_t i = 0; i < b.count; ++i) {
        const Step& st = b.step[i];
        rte_mbuf* m = w.mbufs[i];
        switch (st.verdict) {
            case Verdict::kDrop:
                in.drops[static_cast<std::size_t>(st.reason)].add(1);
                dropped[nd++] = m;
                break;
            case Verdict::kUnicast:
                if (st.tag == TagOp::kPop) {
                    rte_vlan_strip(m);
                } else if (st.tag == TagOp::kPush && !push_tag(m, st.vlan)) {
                    in.drops[static_cast<std::size_t>(DropReason::kNoMbuf)].add(1);
                    dropped[nd++] = m;
                    break;
                }
                emit(w, out, s.dpdk_port[index(st.out)], m);
                break;
            case Verdict::kFlood:
                flood(w, out, s, i, m, in);
                break;
        }
    }
    send_outbox(w, out);
    if (nd != 0) rte_pktmbuf_free_bulk(dropped.data(), nd);
}

const SwitchStage kSwitch;

std::uint16_t poll(Worker& w, const Snapshot& s, const RxQueue& q, std::uint64_t now) noexcept {
    std::uint16_t n = rte_eth_rx_burst(q.dpdk_port, q.queue, w.mbufs.data(), kBurstSize);
    if (n == 0) return 0;
    Burst& b = w.burst;
    b.in = q.port;
    b.count = n;
    std::uint64_t bytes = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = w.mbufs[i];
        const auto* data = rte_pktmbuf_mtod(m, const std::byte*);
        b.frame[i] = std::span(data, rte_pktmbuf_data_len(m));
        parse_l2(b.frame[i], b.meta[i]);
        b.meta[i].len = rte_pktmbuf_pkt_len(m);  // whole frame, even if it spans segments
        bytes += rte_pktmbuf_pkt_len(m);
    }
    auto& c = w.ports[q.dpdk_port];
    c.rx_packets.add(n);
    c.rx_bytes.add(bytes);
    kSwitch.process(b, s.table);
    w.firewall.process(b, s.table, s.firewall, now);
    output(w, s, q.dpdk_port);
    return n;
}

// Between bursts: frees a few expired connections, and serves a listing request a chunk at a
// time.
void housekeep(Worker& w, ConnTable& ct, std::uint64_t now) noexcept {
    const std::uint32_t tick = ct.ticks(now);
    if (ct.sweep(tick, kSweepPerPass) != 0) w.firewall.ct.publish(ct);
    CtDump& d = w.dump;
    if (d.state.load(std::memory_order_acquire) != CtDump::kRequested) return;
    const std::int32_t end = std::min(ct.positions(), d.cursor + CtDump::kChunk);
    for (; d.cursor < end; ++d.cursor) {
        const CtEntry& e = ct.at(d.cursor);
        if ((e.flags & CtEntry::kInUse) == 0 || ct_expired(e.expires, tick)) continue;
        if (!d.all_zones && e.key.zone != d.zone) continue;
        if (d.copied < d.out.size()) d.out[d.copied++] = e;
        ++d.matched;
    }
    if (d.cursor == ct.positions()) {
        d.now = tick;
        d.state.store(CtDump::kDone, std::memory_order_release);
    }
}

}  // namespace

int run_worker(void* arg) {
    Worker& w = *static_cast<Worker*>(arg);
    rte_rcu_qsbr_thread_online(w.rcu, w.index);
    const std::uint64_t drain_tsc = (rte_get_tsc_hz() + US_PER_S - 1) / US_PER_S * kDrainUs;
    // One TSC read per pass (it costs tens of cycles): a pass ends when the next one starts.
    std::uint64_t start = rte_rdtsc();
    std::uint64_t last_drain = start;
    std::uint64_t generation = 0;
    while (!w.stop->load(std::memory_order_relaxed)) {
        const Snapshot* s = w.current->load(std::memory_order_acquire);
        if (s->generation != generation) {
            // Packets buffered under the old snapshot leave before the new one is used, so that
            // a port it removed holds nothing of ours once every worker has adopted it.
            flush_all(w);
            generation = s->generation;
            w.adopted.store(generation, std::memory_order_release);
        }
        if (start - last_drain > drain_tsc) {
            flush_all(w);
            last_drain = start;
        }
        std::uint32_t got = 0;
        for (const RxQueue& q : s->rx[w.index]) got += poll(w, *s, q, start);
        if (ConnTable* ct = w.firewall.conntrack.load(std::memory_order_relaxed); ct != nullptr) {
            housekeep(w, *ct, start);
        }
        rte_rcu_qsbr_quiescent(w.rcu, w.index);
        const std::uint64_t end = rte_rdtsc();
        const std::uint64_t spent = end - start;
        start = end;
        if (got != 0) {
            w.loop.busy_cycles.add(spent);
            w.loop.packets.add(got);
        } else {
            w.loop.idle_cycles.add(spent);
        }
        w.loop.passes.add(1);
    }
    flush_all(w);
    rte_rcu_qsbr_thread_offline(w.rcu, w.index);
    return 0;
}

Result<void> attach_tx_buffer(Worker& w, std::uint16_t dpdk_port, int socket) {
    if (w.tx[dpdk_port].load(std::memory_order_relaxed) != nullptr) return {};
    void* mem = rte_zmalloc_socket("vfgate_tx", sizeof(TxBuffer), RTE_CACHE_LINE_SIZE, socket);
    if (mem == nullptr) return fail(ErrorKind::kSystem, "no memory for a TX buffer");
    w.tx[dpdk_port].store(new (mem) TxBuffer{}, std::memory_order_release);
    return {};
}

TxBuffer* detach_tx_buffer(Worker& w, std::uint16_t dpdk_port) {
    return w.tx[dpdk_port].exchange(nullptr, std::memory_order_acq_rel);
}

}  // namespace vfgate::dataplane
