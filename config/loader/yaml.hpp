#pragma once
// The YAML adapter's interface (private to config): implemented in config/loader/yaml.cpp.

#include <optional>
#include <string_view>

#include "document.hpp"

namespace vfgate::config::detail {

struct ParsedYaml {
    DocNode root;                     // valid when `error` is empty
    std::optional<Diagnostic> error;  // a syntax error, or a document that can't be a config
};

ParsedYaml parse_yaml(std::string_view text);

}  // namespace vfgate::config::detail
