#pragma once
// One guest NIC's firewall as the workers use it: each direction's rule set (its rules compiled
// by a classifier, with the actions, ids and hit counters of its rules). Built on the control
// thread when the NIC appears or its `firewall` changes (never on the fast path), shared by every
// snapshot that has the NIC unchanged, freed with the last of them (after an RCU grace period).
//
// Counters: per worker, one cache-line-aligned block each, written by that worker only. Slots:
// one per rule, then the default, then "established" (packets that conntrack passed without
// rule evaluation). When a NIC's rules change, a rule that keeps its id keeps its count.

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "counters.hpp"
#include "l3l4.hpp"

namespace vfgate::dataplane {

enum Dir : std::uint8_t { kIngress = 0, kEgress = 1 };

// Rules compiled for matching, first match wins. The dataplane's is rte_acl (acl.hpp); tests
// may use the reference matcher. Built on the control thread, then read-only: classify() is
// hot-path safe and any number of workers may call it at once.
class Classifier {
  public:
    Classifier() = default;
    virtual ~Classifier() = default;
    Classifier(const Classifier&) = delete;
    Classifier& operator=(const Classifier&) = delete;

    // For each of `n` keys (at most 64, all of one IP version), the matching rule's index + 1,
    // or 0 for none.
    virtual void classify(std::uint8_t family, const FlowKey* const* keys, std::uint32_t* out,
                          std::uint32_t n) const noexcept = 0;
    // For the log: how the rules were compiled ("3 rte_acl contexts").
    virtual std::string describe() const = 0;
};

// Compiles a direction's rules (never called with none).
using ClassifierFactory =
    std::function<Result<std::shared_ptr<const Classifier>>(std::span<const config::Rule>)>;

class RuleSet {
  public:
    static Result<RuleSet> build(const std::vector<config::Rule>& rules, config::Action fallback,
                                 unsigned workers, const ClassifierFactory& compile,
                                 const RuleSet* previous);

    // The matching rule's index + 1, or 0 for the default (hot path; one key).
    std::uint32_t match(const FlowKey& k) const noexcept {
        const FlowKey* p = &k;
        std::uint32_t out = 0;
        match(k.family, &p, &out, 1);
        return out;
    }
    // Many keys of one IP version at once (hot path; at most 64).
    void match(std::uint8_t family, const FlowKey* const* keys, std::uint32_t* out,
               std::uint32_t n) const noexcept {
        if (classifier_) {
            classifier_->classify(family, keys, out, n);
        } else {
            for (std::uint32_t i = 0; i < n; ++i) out[i] = 0;
        }
    }
    config::Action action(std::uint32_t match) const noexcept {
        return match == 0 ? fallback_ : actions_[match - 1];
    }

    // Counter slots.
    std::size_t rules() const { return ids_.size(); }
    std::size_t default_slot() const { return ids_.size(); }
    std::size_t established_slot() const { return ids_.size() + 1; }
    void count(unsigned worker, std::size_t slot, std::uint64_t n = 1) const noexcept {
        lines_[worker * stride_ + slot / kPerLine].c[slot % kPerLine].add(n);
    }
    std::uint64_t total(std::size_t slot) const;  // over the workers, plus what was carried over
    // Once no worker counts into `previous` any more (after the publish that replaced it): adds
    // what it counted since this set was built. Control thread only.
    void settle(const RuleSet& previous) const;

    const std::string& id(std::size_t rule) const { return ids_[rule]; }
    config::Action rule_action(std::size_t rule) const { return actions_[rule]; }
    config::Action fallback() const { return fallback_; }
    const Classifier* classifier() const { return classifier_.get(); }

  private:
    static constexpr std::size_t kPerLine = 8;
    struct alignas(64) Line {
        std::array<Counter, kPerLine> c;
    };

    std::shared_ptr<const Classifier> classifier_;  // null: no rules
    std::vector<std::string> ids_;
    std::vector<config::Action> actions_;
    config::Action fallback_ = config::Action::kDeny;
    std::shared_ptr<std::vector<Line>> lines_holder_;
    Line* lines_ = nullptr;
    std::size_t stride_ = 0;  // lines per worker
    // By slot: counts carried from the previous rule set (control thread only, hence mutable),
    // the previous set's slot each came from (-1: none), and its total when it was read.
    mutable std::vector<std::uint64_t> base_;
    std::vector<std::int64_t> from_;
    mutable std::vector<std::uint64_t> carried_;
    unsigned workers_ = 0;
};

struct NicFirewall {
    config::Firewall source;  // what it was built from (reuse when unchanged)
    // The NIC's conntrack zone, stable for its name while running: a 16-bit number, held in 32
    // bits so that the packet path keeps it in a 32-bit register (spilled as 16 bits and read
    // back as 32 while making a key, it stalled store forwarding).
    std::uint32_t zone = 0;
    std::uint32_t epoch = 0;  // unique per build: connections allowed under another are re-checked
    bool stateful = true;
    std::array<RuleSet, 2> dir;  // by Dir

    void settle(const NicFirewall& previous) const {
        dir[kIngress].settle(previous.dir[kIngress]);
        dir[kEgress].settle(previous.dir[kEgress]);
    }

    static Result<std::shared_ptr<const NicFirewall>> build(const config::Firewall& fw,
                                                            std::uint16_t zone, std::uint32_t epoch,
                                                            unsigned workers,
                                                            const ClassifierFactory& compile,
                                                            const NicFirewall* previous);
};

}  // namespace vfgate::dataplane
