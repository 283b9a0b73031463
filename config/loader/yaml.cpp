// The one file that includes yaml-cpp: YAML text -> detail::DocNode (plain data), or one
// diagnostic. Exceptions from yaml-cpp stop here.
//
// We drive YAML::Parser with our own event handler instead of YAML::Load/LoadAll: it builds
// our DocNode directly, counts every node (aliases expanded) against kMaxNodes as it goes, and
// reads at most two documents. LoadAll in yaml-cpp 0.7 (Debian 12) loops forever, allocating, on
// input such as "," (yaml-cpp issues #1040 and #1319), so it must never see a user's file.

#include "yaml.hpp"

#include <algorithm>
#include <sstream>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

namespace vfgate::config::detail {
namespace {

struct TooLarge {};
struct TooDeep {
    YAML::Mark mark;  // where the level beyond kMaxDepth opens
};

Location location_of(const YAML::Mark& m) { return {m.line + 1, m.column + 1}; }

class Builder : public YAML::EventHandler {
  public:
    // The finished document root (valid after OnDocumentEnd).
    DocNode root;

    void OnDocumentStart(const YAML::Mark&) override {
        stack_.clear();
        root = DocNode{};
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        DocNode n;
        n.location = location_of(mark);
        finish(std::move(n), anchor);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        if (anchor == 0 || anchor >= anchors_.size()) {
            throw YAML::ParserException(mark, "unknown alias");
        }
        DocNode n = anchors_[anchor];
        // An alias copies its anchor's tree: it nests as deep as the anchor below this level.
        if (stack_.size() + height(n) > kMaxDepth) throw TooDeep{mark};
        count(n);
        finish(std::move(n), 0);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        DocNode n;
        n.kind = DocNode::Kind::kScalar;
        n.location = location_of(mark);
        n.text = value;
        n.plain = tag == "?";  // "!" for a quoted scalar
        finish(std::move(n), anchor);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(DocNode::Kind::kList, mark, anchor);
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(DocNode::Kind::kMap, mark, anchor);
    }
    void OnMapEnd() override { close(); }

  private:
    struct Frame {
        DocNode node;
        YAML::anchor_t anchor = 0;
        std::optional<DocNode> key;  // a map's key waiting for its value
    };

    // Levels of mappings and lists in `n` (a scalar: 0). Recursion is bounded: every tree built
    // here is at most kMaxDepth deep.
    static std::size_t height(const DocNode& n) {
        std::size_t below = 0;
        for (const auto& item : n.items) below = std::max(below, height(item));
        for (const auto& [k, v] : n.pairs) below = std::max({below, height(k), height(v)});
        return n.kind == DocNode::Kind::kList || n.kind == DocNode::Kind::kMap ? below + 1 : 0;
    }

    void count(const DocNode& n) {
        if (++nodes_ > kMaxNodes) throw TooLarge{};
        for (const auto& item : n.items) count(item);
        for (const auto& [k, v] : n.pairs) {
            count(k);
            count(v);
        }
    }

    void open(DocNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
        if (++nodes_ > kMaxNodes) throw TooLarge{};
        if (stack_.size() >= kMaxDepth) throw TooDeep{mark};
        Frame f;
        f.node.kind = kind;
        f.node.location = location_of(mark);
        f.anchor = anchor;
        stack_.push_back(std::move(f));
    }

    void close() {
        Frame f = std::move(stack_.back());
        stack_.pop_back();
        finish(std::move(f.node), f.anchor);
    }

    // A complete node: remember its anchor, then attach it to its parent (or make it the root).
    void finish(DocNode n, YAML::anchor_t anchor) {
        if (n.kind == DocNode::Kind::kNull || n.kind == DocNode::Kind::kScalar) {
            if (++nodes_ > kMaxNodes) throw TooLarge{};
        }
        if (anchor != 0) {
            if (anchors_.size() <= anchor) anchors_.resize(anchor + 1);
            anchors_[anchor] = n;
        }
        if (stack_.empty()) {
            root = std::move(n);
            return;
        }
        Frame& parent = stack_.back();
        if (parent.node.kind == DocNode::Kind::kList) {
            parent.node.items.push_back(std::move(n));
        } else if (!parent.key) {
            parent.key = std::move(n);
        } else {
            parent.node.pairs.push_back({std::move(*parent.key), std::move(n)});
            parent.key.reset();
        }
    }

    std::vector<Frame> stack_;
    std::vector<DocNode> anchors_;  // by anchor id; ids count from 1
    std::size_t nodes_ = 0;
};

}  // namespace

ParsedYaml parse_yaml(std::string_view text) {
    ParsedYaml out;
    std::istringstream in{std::string(text)};
    try {
        YAML::Parser parser(in);
        Builder builder;
        if (!parser.HandleNextDocument(builder)) {
            out.error = Diagnostic{"",
                                   {1, 1},
                                   "",
                                   "found an empty document; expected a mapping that starts "
                                   "with 'version: 1'"};
            return out;
        }
        out.root = std::move(builder.root);
        Builder second;
        if (parser.HandleNextDocument(second)) {
            // yaml-cpp 0.7 reports a stray token (",") as endless empty documents at one place.
            bool stuck = second.root.kind == DocNode::Kind::kNull &&
                         second.root.location == out.root.location;
            out.error = Diagnostic{"", second.root.location, "",
                                   stuck ? "found a token that can't start a value; expected a "
                                           "YAML document"
                                         : "found a second YAML document; expected one document"};
        }
    } catch (const YAML::Exception& e) {
        out.error = Diagnostic{"", location_of(e.mark), "",
                               "found invalid YAML (" + e.msg + "); expected a YAML document"};
    } catch (const TooDeep& e) {
        out.error = Diagnostic{"", location_of(e.mark), "",
                               "found values nested deeper than " + std::to_string(kMaxDepth) +
                                   " levels; expected a config nested at most " +
                                   std::to_string(kMaxDepth) + " levels deep"};
    } catch (const TooLarge&) {
        out.error = Diagnostic{"",
                               {1, 1},
                               "",
                               "found more than " + std::to_string(kMaxNodes) +
                                   " values (aliases expanded); expected a config of "
                                   "reasonable size"};
    }
    return out;
}

}  // namespace vfgate::config::detail
