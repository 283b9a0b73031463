#include "reader.hpp"

#include <algorithm>
#include <charconv>

#include <vfgate/common/text.hpp>

namespace vfgate::config::detail {
namespace {

// Optimal string alignment distance: edits and swaps of neighbours ("vlna" -> "vlan") cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

std::string printable(std::string_view s) {
    constexpr std::size_t kMax = 60;
    std::string out = escape_controls(s.substr(0, kMax));
    if (s.size() > kMax) out += "...";
    return out;
}

std::string join(std::initializer_list<std::string_view> names) {
    std::string s;
    for (auto n : names) {
        if (!s.empty()) s += ", ";
        s += n;
    }
    return s;
}

}  // namespace

std::string describe(const DocNode& n) {
    switch (n.kind) {
        case DocNode::Kind::kNull:
            return "nothing (null)";
        case DocNode::Kind::kList:
            return "a list";
        case DocNode::Kind::kMap:
            return "a mapping";
        case DocNode::Kind::kScalar:
            return n.plain ? printable(n.text) : "\"" + printable(n.text) + "\"";
    }
    return "?";
}

std::string item_path(const std::string& base, std::size_t i) {
    return base + "[" + std::to_string(i) + "]";
}

std::string key_path(const std::string& base, std::string_view key) {
    return base.empty() ? std::string(key) : base + "." + std::string(key);
}

void Reader::error(Location loc, const std::string& path, std::string message) {
    errors.push_back({"", loc, path, std::move(message)});
    bad_paths.insert(path);
}

void Reader::mismatch(const DocNode& n, const std::string& path, std::string_view expected) {
    error(n.location, path, "found " + describe(n) + "; expected " + std::string(expected));
}

std::optional<Fields> Reader::mapping(const DocNode& n, const std::string& path,
                                      std::initializer_list<std::string_view> keys) {
    visit(n, path);
    if (n.kind != DocNode::Kind::kMap) {
        mismatch(n, path, "a mapping with keys " + join(keys));
        return std::nullopt;
    }
    Fields f{path, n.location, {}};
    for (const auto& [key, value] : n.pairs) {
        if (key.kind != DocNode::Kind::kScalar) {
            mismatch(key, path, "a key name (one of " + join(keys) + ")");
            continue;
        }
        auto kp = key_path(path, key.text);
        if (std::find(keys.begin(), keys.end(), key.text) == keys.end()) {
            std::string hint;
            for (auto k : keys) {
                auto limit = std::max<std::size_t>(1, std::min<std::size_t>(2, k.size() / 3));
                if (edit_distance(key.text, k) <= limit) {
                    hint = " (did you mean '" + std::string(k) + "'?)";
                    break;
                }
            }
            error(key.location, kp,
                  "found unknown key '" + printable(key.text) + "'" + hint + "; expected one of " +
                      join(keys));
            continue;
        }
        if (auto* first = f.get(key.text)) {
            error(key.location, kp,
                  "found key '" + key.text + "' a second time (first on line " +
                      std::to_string(first->location.line) + "); expected each key once");
            continue;
        }
        f.values.emplace(key.text, &value);
    }
    return f;
}

const DocNode* Reader::required(const Fields& f, std::string_view key, std::string_view what) {
    if (auto* v = f.get(key)) return v;
    auto kp = key_path(f.path, key);
    if (!bad_paths.contains(kp)) {
        error(f.location, kp,
              "found no '" + std::string(key) + "'; expected " + std::string(what) +
                  " (a required key)");
    }
    return nullptr;
}

std::optional<std::int64_t> Reader::integer(const DocNode& n, const std::string& path) {
    visit(n, path);
    if (n.kind != DocNode::Kind::kScalar || !n.plain) {
        mismatch(n, path,
                 n.kind == DocNode::Kind::kScalar ? "an integer, without quotes" : "an integer");
        return std::nullopt;
    }
    std::string_view s = n.text;
    std::string_view digits = s.starts_with('-') ? s.substr(1) : s;
    bool leading_zero = digits.size() > 1 && digits.front() == '0';
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || leading_zero) {
        mismatch(n, path,
                 ec == std::errc::result_out_of_range
                     ? "an integer of a sensible size"
                     : "a decimal integer (no leading zeros, no hex or octal)");
        return std::nullopt;
    }
    return v;
}

std::optional<bool> Reader::boolean(const DocNode& n, const std::string& path) {
    visit(n, path);
    if (n.kind == DocNode::Kind::kScalar && n.plain) {
        if (n.text == "true" || n.text == "True" || n.text == "TRUE") return true;
        if (n.text == "false" || n.text == "False" || n.text == "FALSE") return false;
    }
    mismatch(n, path, "true or false");
    return std::nullopt;
}

std::optional<std::string> Reader::text(const DocNode& n, const std::string& path,
                                        std::string_view what) {
    visit(n, path);
    if (n.kind != DocNode::Kind::kScalar) {
        mismatch(n, path, what);
        return std::nullopt;
    }
    // Every string here reaches a C API (a path, devargs, argv), which would cut it at the NUL.
    if (n.text.find('\0') != std::string::npos) {
        error(n.location, path,
              "found " + describe(n) + " (a NUL byte inside); expected text without NUL bytes");
        return std::nullopt;
    }
    return n.text;
}

std::optional<std::size_t> Reader::choice(const DocNode& n, const std::string& path,
                                          std::initializer_list<std::string_view> names) {
    visit(n, path);
    if (n.kind == DocNode::Kind::kScalar) {
        auto it = std::find(names.begin(), names.end(), n.text);
        if (it != names.end()) return static_cast<std::size_t>(it - names.begin());
    }
    mismatch(n, path, "one of " + join(names));
    return std::nullopt;
}

const std::vector<DocNode>* Reader::list(const DocNode& n, const std::string& path,
                                         std::string_view what) {
    visit(n, path);
    if (n.kind != DocNode::Kind::kList) {
        mismatch(n, path, "a list of " + std::string(what));
        return nullptr;
    }
    return &n.items;
}

std::optional<std::vector<const DocNode*>> Reader::one_or_list(const DocNode& n,
                                                               const std::string& path,
                                                               std::string_view what) {
    visit(n, path);
    std::vector<const DocNode*> out;
    if (n.kind == DocNode::Kind::kScalar) {
        out.push_back(&n);
    } else if (n.kind == DocNode::Kind::kList && !n.items.empty()) {
        for (const auto& item : n.items) out.push_back(&item);
    } else {
        mismatch(n, path, std::string(what) + ", or a non-empty list of them");
        return std::nullopt;
    }
    return out;
}

}  // namespace vfgate::config::detail
