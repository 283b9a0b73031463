#pragma once
// Owning handles for libnl objects, shared by the rtnetlink and devlink adapters.

#include <memory>

#include <netlink/netlink.h>
#include <netlink/socket.h>

namespace vfgate::vfmgr {

struct NlSockFree {
    void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct NlMsgFree {
    void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using NlSock = std::unique_ptr<nl_sock, NlSockFree>;
using NlMsg = std::unique_ptr<nl_msg, NlMsgFree>;

}  // namespace vfgate::vfmgr
