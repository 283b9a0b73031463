#pragma once
// The control protocol of vfgate's daemons: JSON lines over a Unix stream socket.
//
// Each request is one line {"method": M, "params": {...}}; each reply one line,
// {"ok": true, "result": ...} or {"ok": false, "error": "..."}. Used by the dataplane's control
// server and by vfgatectl; control threads only (allocates, blocks on the socket).
//
// Both ends read what the other sends with bounds: a line is at most kMaxRequestLine (server)
// or kMaxReplyLine (client) bytes and nests at most kMaxDepth arrays and objects. Without them
// one line could exhaust the reader's memory or, nested 100,000 deep, its stack.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <vfgate/common/error.hpp>

namespace vfgate::jsonl {

using Json = nlohmann::json;

// Longest request line a server accepts: requests are small.
inline constexpr std::size_t kMaxRequestLine = 1u << 20;
// Longest reply line a client accepts: a listing (100k firewall rules are ~10 MiB) is big.
inline constexpr std::size_t kMaxReplyLine = 256u << 20;
// Deepest nesting of arrays and objects either end accepts. vfgate's messages nest < 8.
inline constexpr std::size_t kMaxDepth = 64;

// Parses one JSON text nesting at most `max_depth` arrays and objects. The error says what was
// wrong: not JSON (and at which byte), or nested too deep. Never recurses on the input's depth.
Result<Json> parse(std::string_view text, std::size_t max_depth = kMaxDepth);

struct Request {
    std::string method;
    Json params = Json::object();
};

// Parses one request line (bounded as parse()); the error says what was wrong with it.
Result<Request> parse_request(std::string_view line);

std::string ok_reply(const Json& result);
std::string error_reply(std::string_view message);

// Splits a byte stream into lines of at most `max_line` bytes (without the newline). Bytes go
// in with feed(); next() returns complete lines. Amortized linear in the bytes fed.
class LineBuffer {
  public:
    explicit LineBuffer(std::size_t max_line = kMaxRequestLine) : max_line_(max_line) {}

    void feed(std::string_view bytes);
    // The next complete line, without its "\n" (or "\r\n"); nullopt when there is none yet or
    // when the line is too long (then overflowed() is true).
    std::optional<std::string> next();
    // True when the next line, complete or not, is longer than max_line: the stream can't go
    // on (a reader reports it and closes).
    bool overflowed() const;
    // Bytes fed and not yet returned by next().
    std::size_t buffered() const { return buf_.size() - start_; }
    std::size_t max_line() const { return max_line_; }

  private:
    // Position of the next "\n" at or after start_, or npos; remembers how far it looked.
    std::size_t find_newline() const;

    std::string buf_;
    std::size_t start_ = 0;            // first byte not yet returned
    mutable std::size_t scanned_ = 0;  // no "\n" in [start_, scanned_)
    std::size_t max_line_;
};

// Sends one request to the server at `socket_path` and returns its result, or its error as an
// Error (kind kInvalidArgument for {"ok": false}, kSystem for socket failures). The reply may be
// up to kMaxReplyLine bytes. A server that refuses the connection (too many clients) before
// reading the request: its refusal is returned, not the EPIPE of the write.
Result<Json> call(const std::string& socket_path, std::string_view method,
                  const Json& params = Json::object(),
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace vfgate::jsonl
