// Bounded parsing and line splitting of the JSON-lines protocol.

#include <vfgate/common/jsonl.hpp>

namespace vfgate::jsonl {
namespace {

// A SAX handler that builds nothing: it counts nesting and stops the parser past the limit, so
// that the DOM parse which follows only ever sees shallow input. (nlohmann's DOM parser keeps
// its own stack, but copying or destroying a value recurses per level.)
class DepthCheck final : public nlohmann::json_sax<Json> {
  public:
    explicit DepthCheck(std::size_t max_depth) : max_depth_(max_depth) {}

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return enter(); }
    bool key(string_t&) override { return true; }
    bool end_object() override { return leave(); }
    bool start_array(std::size_t) override { return enter(); }
    bool end_array() override { return leave(); }
    bool parse_error(std::size_t position, const std::string&, const Json::exception&) override {
        error_at_ = position;
        return false;
    }

    bool too_deep() const { return too_deep_; }
    std::size_t error_at() const { return error_at_; }

  private:
    bool enter() {
        too_deep_ = ++depth_ > max_depth_;
        return !too_deep_;
    }
    bool leave() {
        --depth_;
        return true;
    }

    std::size_t max_depth_;
    std::size_t depth_ = 0;
    bool too_deep_ = false;
    std::size_t error_at_ = 0;
};

}  // namespace

Result<Json> parse(std::string_view text, std::size_t max_depth) {
    DepthCheck check(max_depth);
    if (!Json::sax_parse(text, &check)) {
        if (check.too_deep()) {
            return fail(ErrorKind::kInvalidArgument,
                        "nested deeper than " + std::to_string(max_depth) + " levels");
        }
        return fail(ErrorKind::kInvalidArgument,
                    "not valid JSON (at byte " + std::to_string(check.error_at()) + ")");
    }
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded()) return fail(ErrorKind::kInvalidArgument, "not valid JSON");
    return j;
}

Result<Request> parse_request(std::string_view line) {
    auto j = parse(line);
    if (!j) return tl::unexpected(std::move(j.error()).context("request"));
    if (!j->is_object()) return fail(ErrorKind::kInvalidArgument, "request is not a JSON object");
    auto m = j->find("method");
    if (m == j->end() || !m->is_string()) {
        return fail(ErrorKind::kInvalidArgument, "request has no \"method\" string");
    }
    Request r{m->get<std::string>()};
    if (auto p = j->find("params"); p != j->end() && !p->is_null()) {
        if (!p->is_object()) {
            return fail(ErrorKind::kInvalidArgument, "\"params\" is not a JSON object");
        }
        r.params = std::move(*p);
    }
    return r;
}

std::string ok_reply(const Json& result) {
    return Json{{"ok", true}, {"result", result}}.dump(-1, ' ', false,
                                                       Json::error_handler_t::replace) +
           "\n";
}

std::string error_reply(std::string_view message) {
    return Json{{"ok", false}, {"error", message}}.dump(-1, ' ', false,
                                                        Json::error_handler_t::replace) +
           "\n";
}

void LineBuffer::feed(std::string_view bytes) {
    // Drop what next() returned before growing: each byte is moved at most once more.
    if (start_ > 0 && start_ >= buf_.size() / 2) {
        buf_.erase(0, start_);
        scanned_ -= start_;
        start_ = 0;
    }
    buf_.append(bytes);
}

std::size_t LineBuffer::find_newline() const {
    auto nl = buf_.find('\n', std::max(scanned_, start_));
    scanned_ = nl == std::string::npos ? buf_.size() : nl;
    return nl;
}

bool LineBuffer::overflowed() const {
    auto nl = find_newline();
    std::size_t len = (nl == std::string::npos ? buf_.size() : nl) - start_;
    if (nl != std::string::npos && len > 0 && buf_[nl - 1] == '\r') --len;
    return len > max_line_;
}

std::optional<std::string> LineBuffer::next() {
    if (overflowed()) return std::nullopt;
    auto nl = find_newline();
    if (nl == std::string::npos) return std::nullopt;
    std::string line = buf_.substr(start_, nl - start_);
    start_ = nl + 1;
    scanned_ = start_;
    if (start_ == buf_.size()) {  // all taken: start over without moving anything
        buf_.clear();
        start_ = scanned_ = 0;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace vfgate::jsonl
