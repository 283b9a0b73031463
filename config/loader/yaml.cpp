// The one file that includes yaml-cpp: YAML text -> detail::Node (plain data), or one
// diagnostic for a syntax error. Exceptions from yaml-cpp stop here.

#include <yaml-cpp/yaml.h>

#include "yaml.hpp"

namespace vfgate::config::detail {
namespace {

struct TooLarge {};

Location location_of(const YAML::Mark& m) { return {m.line + 1, m.column + 1}; }

class Converter {
public:
    Node convert(const YAML::Node& y) {
        if (++count_ > kMaxNodes) throw TooLarge{};
        Node n;
        n.location = location_of(y.Mark());
        switch (y.Type()) {
            case YAML::NodeType::Scalar:
                n.kind = Node::Kind::kScalar;
                n.text = y.Scalar();
                n.plain = y.Tag() == "?";  // "!" for a quoted scalar
                break;
            case YAML::NodeType::Sequence:
                n.kind = Node::Kind::kList;
                n.items.reserve(y.size());
                for (const auto& item : y) n.items.push_back(convert(item));
                break;
            case YAML::NodeType::Map:
                n.kind = Node::Kind::kMap;
                for (const auto& kv : y) n.pairs.emplace_back(convert(kv.first), convert(kv.second));
                break;
            case YAML::NodeType::Null:
            case YAML::NodeType::Undefined:
                n.kind = Node::Kind::kNull;
                break;
        }
        return n;
    }

private:
    std::size_t count_ = 0;
};

}  // namespace

ParsedYaml parse_yaml(std::string_view text) {
    ParsedYaml out;
    try {
        auto docs = YAML::LoadAll(std::string(text));
        if (docs.empty()) {
            out.error = Diagnostic{"", {1, 1}, "",
                                   "found an empty document; expected a mapping that starts "
                                   "with 'version: 1'"};
            return out;
        }
        if (docs.size() > 1) {
            out.error = Diagnostic{"", location_of(docs[1].Mark()), "",
                                   "found a second YAML document; expected one document"};
            return out;
        }
        out.root = Converter().convert(docs[0]);
    } catch (const YAML::Exception& e) {
        out.error = Diagnostic{"", location_of(e.mark), "",
                               "found invalid YAML (" + e.msg + "); expected a YAML document"};
    } catch (const TooLarge&) {
        out.error = Diagnostic{"", {1, 1}, "",
                               "found more than " + std::to_string(kMaxNodes) +
                                   " values (aliases expanded); expected a config of "
                                   "reasonable size"};
    }
    return out;
}

}  // namespace vfgate::config::detail
