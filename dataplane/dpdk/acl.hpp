#pragma once
// A NIC direction's rules compiled to rte_acl: one context per IP version, built on the control
// thread (allocates; may take a while for large sets), then read-only. classify() is hot-path
// safe: any number of workers may call it at once.

#include <memory>
#include <span>
#include <vector>

#include <rte_acl.h>

#include <vfgate/common/error.hpp>
#include <vfgate/config/config.hpp>

#include "acl_rules.hpp"

namespace vfgate::dataplane {

class AclClassifier {
  public:
    // Compiles `rules` (in order: the first match wins). An empty list compiles to nothing.
    static Result<std::unique_ptr<AclClassifier>> build(std::span<const config::Rule> rules,
                                                        int socket);
    ~AclClassifier();
    AclClassifier(const AclClassifier&) = delete;
    AclClassifier& operator=(const AclClassifier&) = delete;

    // For each key (all of one IP version), the matching rule's index + 1, or 0 for none.
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
