#include <vfgate/common/text.hpp>

namespace vfgate {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void hex_byte(std::string& out, unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
}

// The length of the UTF-8 sequence that starts `s`, or 0 if it isn't one.
std::size_t utf8_length(std::string_view s) {
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    std::size_t n = 0;
    if (b(0) >= 0xc2 && b(0) <= 0xdf) {
        n = 2;
    } else if (b(0) >= 0xe0 && b(0) <= 0xef) {
        n = 3;
    } else if (b(0) >= 0xf0 && b(0) <= 0xf4) {
        n = 4;
    }
    if (n == 0 || s.size() < n) return 0;
    for (std::size_t i = 1; i < n; ++i) {
        if ((b(i) & 0xc0) != 0x80) return 0;
    }
    return n;
}

}  // namespace

std::string escape_controls(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                hex_byte(out, c);
            } else {
                out += s[i];
            }
            ++i;
            continue;
        }
        std::size_t n = utf8_length(s.substr(i));
        if (n == 0) {
            hex_byte(out, c);
            ++i;
        } else if (c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
            auto c1 = static_cast<unsigned char>(s[i + 1]);  // U+0080 to U+009F
            out += "\\u00";
            out += kHex[c1 >> 4];
            out += kHex[c1 & 15];
            i += 2;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::vector<std::string> last_lines(std::string_view text, std::size_t n) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        lines.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(n));
    return lines;
}

}  // namespace vfgate
