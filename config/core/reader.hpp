#pragma once
// Strict, typed reading of a Document with error reporting (private to config/core).
// Every value read records its location under its key path, so that semantic errors found
// later on the Config point at the right line.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <vfgate/config/config.hpp>

#include "document.hpp"

namespace vfgate::config::detail {

// The keys of one mapping, after unknown and duplicate keys were reported.
struct Fields {
    std::string path;
    Location location;
    std::map<std::string, const DocNode*, std::less<>> values;

    const DocNode* get(std::string_view key) const {
        auto it = values.find(key);
        return it == values.end() ? nullptr : it->second;
    }
};

class Reader {
  public:
    std::vector<Diagnostic> errors;         // file left empty; load_string fills it
    std::map<std::string, Location> where;  // every path read
    std::set<std::string> bad_paths;        // paths that had an error

    void error(Location loc, const std::string& path, std::string message);
    // "found <describe(n)>; expected <expected>"
    void mismatch(const DocNode& n, const std::string& path, std::string_view expected);

    // A mapping whose keys must be among `keys`; nullopt (and an error) if `n` isn't one.
    std::optional<Fields> mapping(const DocNode& n, const std::string& path,
                                  std::initializer_list<std::string_view> keys);
    // The value of a required key, or an error located at the mapping.
    const DocNode* required(const Fields& f, std::string_view key, std::string_view what);

    std::optional<std::int64_t> integer(const DocNode& n, const std::string& path);
    std::optional<bool> boolean(const DocNode& n, const std::string& path);
    std::optional<std::string> text(const DocNode& n, const std::string& path,
                                    std::string_view what = "a string");
    // The index of the scalar in `names`, else an error listing them.
    std::optional<std::size_t> choice(const DocNode& n, const std::string& path,
                                      std::initializer_list<std::string_view> names);
    // The items of a list; `what` describes one item.
    const std::vector<DocNode>* list(const DocNode& n, const std::string& path,
                                     std::string_view what);
    // A scalar or a non-empty list of scalars (src, dst, ports, addresses), as item pointers.
    std::optional<std::vector<const DocNode*>> one_or_list(const DocNode& n,
                                                           const std::string& path,
                                                           std::string_view what);

    void visit(const DocNode& n, const std::string& path) { where[path] = n.location; }
};

// "a list", "a mapping", "nothing (null)", `5000`, `"abc"`.
std::string describe(const DocNode& n);

std::string item_path(const std::string& base, std::size_t i);
std::string key_path(const std::string& base, std::string_view key);

// Conveniences for the schema walk: read an optional key into a field when present.
// Calls `read(node, path)` when `key` is present.
template <class F>
void with(const Fields& f, std::string_view key, F&& read) {
    if (const DocNode* n = f.get(key)) read(*n, key_path(f.path, key));
}

inline void read_text(Reader& r, const Fields& f, std::string_view key, std::string& out) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        if (auto v = r.text(n, p)) out = *v;
    });
}

inline void read_int(Reader& r, const Fields& f, std::string_view key, std::int64_t& out) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        if (auto v = r.integer(n, p)) out = *v;
    });
}

inline void read_int(Reader& r, const Fields& f, std::string_view key,
                     std::optional<std::int64_t>& out) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        if (auto v = r.integer(n, p)) out = v;
    });
}

inline void read_int_list(Reader& r, const Fields& f, std::string_view key,
                          std::vector<std::int64_t>& out) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        auto* items = r.list(n, p, "integers");
        if (items == nullptr) return;
        out.clear();
        for (std::size_t i = 0; i < items->size(); ++i) {
            if (auto v = r.integer((*items)[i], item_path(p, i))) out.push_back(*v);
        }
    });
}

inline void read_bool(Reader& r, const Fields& f, std::string_view key, bool& out) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        if (auto b = r.boolean(n, p)) out = *b;
    });
}

// A required text key.
inline void need_text(Reader& r, const Fields& f, std::string_view key, std::string_view what,
                      std::string& out) {
    if (const DocNode* n = r.required(f, key, what)) {
        if (auto v = r.text(*n, key_path(f.path, key), what)) out = *v;
    }
}

template <class E>
void read_choice(Reader& r, const Fields& f, std::string_view key,
                 std::initializer_list<std::string_view> names, std::initializer_list<E> values,
                 E& out) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        if (auto i = r.choice(n, p, names)) out = *(values.begin() + *i);
    });
}

template <class E>
void read_choice(Reader& r, const Fields& f, std::string_view key,
                 std::initializer_list<std::string_view> names, std::initializer_list<E> values,
                 std::optional<E>& out) {
    E v{};
    bool got = false;
    with(f, key, [&](const DocNode& n, const std::string& p) {
        if (auto i = r.choice(n, p, names)) {
            v = *(values.begin() + *i);
            got = true;
        }
    });
    if (got) out = v;
}

// For a key holding one scalar or a non-empty list of them (src, dst, ports, addresses): calls
// `read(item, path)` for each, with the item's own path ("src[1]", or "src" for a scalar).
template <class F>
void each_one_or_list(Reader& r, const Fields& f, std::string_view key, std::string_view what,
                      F&& read) {
    with(f, key, [&](const DocNode& n, const std::string& p) {
        auto items = r.one_or_list(n, p, what);
        if (!items) return;
        for (std::size_t i = 0; i < items->size(); ++i) {
            const DocNode& item = *(*items)[i];
            auto ip = n.kind == DocNode::Kind::kList ? item_path(p, i) : p;
            r.visit(item, ip);
            read(item, ip);
        }
    });
}

// The schema walk (schema.cpp): reads the document into `cfg`, reporting into `r`.
void read_config(Reader& r, const DocNode& root, Config& cfg);

// A CIDR or a non-empty list of them under `key` (schema_firewall.cpp); `what` describes one.
void read_cidrs(Reader& r, const Fields& f, std::string_view key, std::string_view what,
                std::vector<Cidr>& out);

// A NIC's `firewall` mapping (schema_firewall.cpp).
Firewall read_firewall(Reader& r, const DocNode& n, const std::string& path);

}  // namespace vfgate::config::detail
