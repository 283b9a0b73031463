#pragma once
// A NIC direction's rules compiled to rte_acl: the dataplane's Classifier (rule_set.hpp). One
// context per IP version, built on the control thread (allocates; may take a while for large
// sets), then read-only. classify() is hot-path safe: any number of workers may call it at once.

#include <memory>
#include <span>
#include <vector>

#include <rte_acl.h>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "acl_rules.hpp"
#include "rule_set.hpp"

namespace vfgate::dataplane {

class AclClassifier final : public Classifier {
  public:
    // Compiles `rules` (in order: the first match wins). An empty list compiles to nothing.
    static Result<std::unique_ptr<AclClassifier>> build(std::span<const config::Rule> rules,
                                                        int socket);
    ~AclClassifier() override;
    AclClassifier(const AclClassifier&) = delete;
    AclClassifier& operator=(const AclClassifier&) = delete;

    // The flow keys as rte_acl keys (acl::fill_key), then classify() below (at most 64).
    void classify(std::uint8_t family, const FlowKey* const* keys, std::uint32_t* out,
                  std::uint32_t n) const noexcept override;
    std::string describe() const override;

    // For each key in rte_acl's layout (all of one IP version), the matching rule's index + 1,
    // or 0 for none.
    void classify(std::uint8_t family, const std::uint8_t** keys, std::uint32_t* results,
                  std::uint32_t n) const noexcept;

    std::size_t flat_rules() const { return flat_rules_; }

    // rte_acl contexts per IP version: one, unless the rules were too diverse for one context
    // (rte_acl builds at most 8 tries) and were split in rule order.
    std::size_t contexts(std::uint8_t family) const { return (family == 4 ? v4_ : v6_).size(); }

  private:
    AclClassifier() = default;
    std::vector<rte_acl_ctx*> v4_, v6_;
    std::size_t flat_rules_ = 0;
};

}  // namespace vfgate::dataplane
