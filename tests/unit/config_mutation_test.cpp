// Randomized robustness: mutate valid configs and load them. Every load must return (no crash,
// no hang: meson's timeout guards that), and mutations that make a file structurally invalid
// (an unknown key, a missing required key, a value of the wrong type) must be rejected with
// located errors. Garbage and truncation may or may not leave a valid file; they must not crash.
//
// Deterministic: the seed is fixed and printed with every failure; VFGATE_MUTATION_SEED and
// VFGATE_MUTATION_ROUNDS override it for longer local runs.

#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include <vfgate/config/load.hpp>

namespace vfgate::config {
namespace {

std::string read_example(const char* name) {
    std::ifstream in(std::string(VFGATE_SOURCE_ROOT) + "/config/examples/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    // Drop comments so that mutations only hit YAML (no '#' occurs inside values here).
    return std::regex_replace(ss.str(), std::regex("[ ]*#[^\n]*"), "");
}

const std::vector<std::string>& sources() {
    static const std::vector<std::string> s{read_example("demo.yaml"),
                                            read_example("nfv-host.yaml")};
    return s;
}

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

// Keys a valid config must have wherever their mapping appears.
const std::set<std::string> kRequired{"version", "name", "device", "num_vfs",
                                      "type",    "mac",  "action"};
// Every key of the schema.
const std::regex kKey(
    R"((^|[\s{,])(version|host|name|dataplane|main_core|worker_cores|memory_mb|hugepages|)"
    R"(control_socket|eal_args|uplinks|device|rx_queues|mtu|pfs|num_vfs|eswitch_mode|vf_driver|)"
    R"(guests|vcpus|cpu_pinning|accel|boot|image|kernel|initrd|cmdline|restart|nics|type|pf|vf|)"
    R"(devargs|uplink|mac|vlan|addresses|rate_mbps|trust|firewall|stateful|ingress_default|)"
    R"(egress_default|ingress|egress|id|action|proto|src|dst|src_port|dst_port|icmp_type|)"
    R"(icmp_code):)");

struct KeyAt {
    std::size_t pos;  // of the key's first character
    std::string key;
};

std::vector<KeyAt> keys_in(const std::string& text) {
    std::vector<KeyAt> out;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kKey);
         it != std::sregex_iterator(); ++it) {
        out.push_back({static_cast<std::size_t>(it->position(2)), (*it)[2].str()});
    }
    return out;
}

// The extent of the value after "key:" on the same line: a scalar up to ',' '}' or end of line,
// or a bracketed flow collection. Empty for a block value (on the following lines).
std::pair<std::size_t, std::size_t> value_extent(const std::string& text, std::size_t colon) {
    std::size_t b = colon + 1;
    while (b < text.size() && text[b] == ' ') ++b;
    std::size_t e = b;
    if (b < text.size() && (text[b] == '[' || text[b] == '{')) {
        int depth = 0;
        for (; e < text.size(); ++e) {
            if (text[e] == '[' || text[e] == '{') ++depth;
            if ((text[e] == ']' || text[e] == '}') && --depth == 0) {
                ++e;
                break;
            }
        }
    } else if (b < text.size() && text[b] == '"') {
        e = text.find('"', b + 1) + 1;
    } else {
        while (e < text.size() && text[e] != '\n' && text[e] != ',' && text[e] != '}') ++e;
    }
    return {b, e};
}

class Mutator {
  public:
    explicit Mutator(std::uint64_t seed) : rng_(seed) {}

    std::size_t below(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    }

    // An unknown key where a known one was.
    std::string rename_key(std::string text) {
        auto keys = keys_in(text);
        auto k = keys[below(keys.size())];
        static const char* kSuffix[] = {"_", "s", "x", "2"};
        text.insert(k.pos + k.key.size(), kSuffix[below(4)]);
        return text;
    }

    // A required key removed with its value (nullopt when the pick has no scalar value).
    std::optional<std::string> delete_required(std::string text) {
        std::vector<KeyAt> req;
        for (auto& k : keys_in(text)) {
            if (kRequired.contains(k.key)) req.push_back(k);
        }
        auto k = req[below(req.size())];
        auto [b, e] = value_extent(text, k.pos + k.key.size());
        if (b == e) return std::nullopt;
        while (e < text.size() && (text[e] == ',' || text[e] == ' ')) ++e;  // flow separator
        text.erase(k.pos, e - k.pos);
        return text;
    }

    // A value of a type no key of the schema accepts in that place.
    std::string swap_type(std::string text) {
        auto keys = keys_in(text);
        auto k = keys[below(keys.size())];
        auto [b, e] = value_extent(text, k.pos + k.key.size());
        static const char* kWrong[] = {"{bogus: 1}", "[[1]]", "~", "[{a: [b]}]"};
        text.replace(b, e - b, kWrong[below(4)]);
        return text;
    }

    std::string garbage(std::string text) {
        static const std::string kBytes = ":-[]{}#&*!|>'\"%@`,? \n\t\r\\x0a";
        int n = 1 + static_cast<int>(below(8));
        for (int i = 0; i < n; ++i) {
            auto pos = below(text.size() + 1);
            char c = below(4) == 0 ? static_cast<char>(below(256)) : kBytes[below(kBytes.size())];
            if (below(3) == 0 && !text.empty()) {
                text.erase(std::min(pos, text.size() - 1), 1);
            } else {
                text.insert(pos, 1, c);
            }
        }
        return text;
    }

    std::string truncate(std::string text) { return text.substr(0, below(text.size())); }

  private:
    std::mt19937_64 rng_;
};

void expect_located(const LoadResult& r, const std::string& text, std::uint64_t seed) {
    ASSERT_FALSE(r.ok()) << "seed " << seed << " accepted:\n" << text;
    int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
    for (const auto& d : r.errors) {
        EXPECT_GE(d.location.line, 1) << d.to_string() << "\nseed " << seed;
        EXPECT_LE(d.location.line, lines + 1) << d.to_string() << "\nseed " << seed;
        EXPECT_NE(d.message.find("; expected "), std::string::npos) << d.to_string();
    }
}

class Mutation : public testing::Test {
  protected:
    std::uint64_t base_seed_ = env_or("VFGATE_MUTATION_SEED", 20261121);
    std::uint64_t rounds_ = env_or("VFGATE_MUTATION_ROUNDS", 1500);
};

TEST_F(Mutation, SourcesAreValid) {
    for (const auto& s : sources()) EXPECT_TRUE(load_string(s).ok());
}

TEST_F(Mutation, UnknownKeyIsRejectedAtThatKey) {
    for (std::uint64_t i = 0; i < rounds_; ++i) {
        Mutator m(base_seed_ + i);
        const auto& src = sources()[i % sources().size()];
        auto text = m.rename_key(src);
        auto r = load_string(text);
        expect_located(r, text, base_seed_ + i);
        bool named = std::any_of(r.errors.begin(), r.errors.end(), [](const Diagnostic& d) {
            return d.message.find("unknown key") != std::string::npos ||
                   d.message.find("invalid YAML") != std::string::npos;
        });
        EXPECT_TRUE(named) << "seed " << base_seed_ + i << "\n" << text;
        if (HasFailure()) return;
    }
}

TEST_F(Mutation, MissingRequiredKeyIsRejected) {
    std::uint64_t tried = 0;
    for (std::uint64_t i = 0; i < rounds_; ++i) {
        Mutator m(base_seed_ + i);
        auto text = m.delete_required(sources()[i % sources().size()]);
        if (!text) continue;
        ++tried;
        expect_located(load_string(*text), *text, base_seed_ + i);
        if (HasFailure()) return;
    }
    EXPECT_GT(tried, rounds_ / 2);
}

TEST_F(Mutation, WrongTypeIsRejected) {
    for (std::uint64_t i = 0; i < rounds_; ++i) {
        Mutator m(base_seed_ + i);
        auto text = m.swap_type(sources()[i % sources().size()]);
        expect_located(load_string(text), text, base_seed_ + i);
        if (HasFailure()) return;
    }
}

TEST_F(Mutation, GarbageAndTruncationNeverCrash) {
    std::uint64_t rejected = 0;
    for (std::uint64_t i = 0; i < 2 * rounds_; ++i) {
        Mutator m(base_seed_ + i);
        const auto& src = sources()[i % sources().size()];
        auto text = i % 2 == 0 ? m.garbage(src) : m.truncate(src);
        if (i % 7 == 0) text = m.garbage(m.truncate(text));
        auto r = load_string(text);
        if (!r.ok()) {
            ++rejected;
            for (const auto& d : r.errors) EXPECT_FALSE(d.message.empty());
        } else {
            // Whatever survived must still be a config: version 1 and validation clean.
            EXPECT_EQ(r.config->version, 1);
        }
    }
    EXPECT_GT(rejected, rounds_ / 2) << "the mutations should mostly break the file";
}

}  // namespace
}  // namespace vfgate::config
