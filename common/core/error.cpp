#include <string.h>

#include <vfgate/common/error.hpp>

namespace vfgate {

Error::Error(ErrorKind kind, std::string message, int sys_errno)
    : kind_(kind), errno_(sys_errno), message_(std::move(message)) {}

Error Error::from_errno(int sys_errno, std::string what) {
    return Error(ErrorKind::kSystem, std::move(what), sys_errno);
}

Error& Error::context(std::string outer) & {
    context_.push_back(std::move(outer));
    return *this;
}

Error&& Error::context(std::string outer) && {
    context_.push_back(std::move(outer));
    return std::move(*this);
}

std::string Error::to_string() const {
    std::string out;
    for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
        out += *it;
        out += ": ";
    }
    out += message_;
    if (errno_ != 0) {
        out += ": ";
        out += errno_text(errno_);
    }
    return out;
}

std::string errno_text(int sys_errno) {
    const char* name = strerrorname_np(sys_errno);
    const char* desc = strerrordesc_np(sys_errno);
    if (name == nullptr || desc == nullptr) {
        return "errno " + std::to_string(sys_errno);
    }
    return std::string(desc) + " (" + name + ")";
}

}  // namespace vfgate
