#pragma once
// A parsed YAML document as plain data (private to config). The YAML adapter
// (config/loader/yaml.cpp, the only user of yaml-cpp) produces it; the schema reader consumes it.

#include <string>
#include <vector>

#include <vfgate/config/load.hpp>

namespace vfgate::config::detail {

struct DocNode {
    enum class Kind { kNull, kScalar, kList, kMap };

    Kind kind = Kind::kNull;
    std::string text;    // kScalar: the value
    bool plain = false;  // kScalar: unquoted (so `100` is a number and `"100"` a string)
    Location location;
    std::vector<DocNode> items;  // kList
    struct Entry;
    std::vector<Entry> pairs;  // kMap, in document order, duplicates kept
};

struct DocNode::Entry {
    DocNode key;
    DocNode value;
};

// Values a document may hold, aliases expanded; more is refused as an error. Room for about 150k
// firewall rules (a rule of six keys is 13 values), while an alias bomb stops within a few
// hundred MB.
inline constexpr std::size_t kMaxNodes = 2'000'000;
// Mappings and lists nested deeper than this are refused where the next level opens. A config is
// about 6 deep; the limit keeps recursive walks of a document (the reader, DocNode's destructor)
// far from the end of the stack.
inline constexpr std::size_t kMaxDepth = 64;

}  // namespace vfgate::config::detail
