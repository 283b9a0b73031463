#include "rule_set.hpp"

#include <map>

namespace vfgate::dataplane {

Result<RuleSet> RuleSet::build(const std::vector<config::Rule>& rules, config::Action fallback,
                               unsigned workers, const ClassifierFactory& compile,
                               const RuleSet* previous) {
    RuleSet r;
    if (!rules.empty()) {
        auto c = compile(rules);
        if (!c) return tl::unexpected(c.error());
        r.classifier_ = std::move(*c);
    }
    for (const auto& rule : rules) {
        r.ids_.push_back(rule.id);
        r.actions_.push_back(rule.action);
    }
    r.fallback_ = fallback;
    r.workers_ = workers;
    const std::size_t slots = rules.size() + 2;
    r.stride_ = (slots + kPerLine - 1) / kPerLine;
    r.lines_holder_ = std::make_shared<std::vector<Line>>(r.stride_ * workers);
    r.lines_ = r.lines_holder_->data();
    r.base_.assign(slots, 0);
    r.from_.assign(slots, -1);
    r.carried_.assign(slots, 0);
    if (previous != nullptr) {
        std::map<std::string, std::size_t> by_id;
        for (std::size_t i = 0; i < previous->rules(); ++i) by_id[previous->id(i)] = i;
        for (std::size_t i = 0; i < rules.size(); ++i) {
            if (auto it = by_id.find(rules[i].id); it != by_id.end()) {
                r.from_[i] = static_cast<std::int64_t>(it->second);
            }
        }
        r.from_[r.default_slot()] = static_cast<std::int64_t>(previous->default_slot());
        r.from_[r.established_slot()] = static_cast<std::int64_t>(previous->established_slot());
        for (std::size_t i = 0; i < slots; ++i) {
            if (r.from_[i] < 0) continue;
            r.carried_[i] = previous->total(static_cast<std::size_t>(r.from_[i]));
            r.base_[i] = r.carried_[i];
        }
    }
    return r;
}

void RuleSet::settle(const RuleSet& previous) const {
    for (std::size_t i = 0; i < from_.size(); ++i) {
        if (from_[i] < 0) continue;
        const std::uint64_t now = previous.total(static_cast<std::size_t>(from_[i]));
        base_[i] += now - carried_[i];
        carried_[i] = now;
    }
}

std::uint64_t RuleSet::total(std::size_t slot) const {
    std::uint64_t sum = base_[slot];
    for (unsigned w = 0; w < workers_; ++w) {
        sum += lines_[w * stride_ + slot / kPerLine].c[slot % kPerLine].get();
    }
    return sum;
}

Result<std::shared_ptr<const NicFirewall>> NicFirewall::build(const config::Firewall& fw,
                                                              std::uint16_t zone,
                                                              std::uint32_t epoch, unsigned workers,
                                                              const ClassifierFactory& compile,
                                                              const NicFirewall* previous) {
    auto f = std::make_shared<NicFirewall>();
    f->source = fw;
    f->zone = zone;
    f->epoch = epoch;
    f->stateful = fw.stateful;
    auto in = RuleSet::build(fw.ingress, fw.ingress_default, workers, compile,
                             previous != nullptr ? &previous->dir[kIngress] : nullptr);
    if (!in) return tl::unexpected(std::move(in.error()).context("firewall.ingress"));
    auto out = RuleSet::build(fw.egress, fw.egress_default, workers, compile,
                              previous != nullptr ? &previous->dir[kEgress] : nullptr);
    if (!out) return tl::unexpected(std::move(out.error()).context("firewall.egress"));
    f->dir[kIngress] = std::move(*in);
    f->dir[kEgress] = std::move(*out);
    return std::shared_ptr<const NicFirewall>(std::move(f));
}

}  // namespace vfgate::dataplane
