// link.cc — tapd::nl::route_socket on top of libnl-3 route.
//
// Every operation on an ifindex first fetches the link with RTM_GETLINK: the reply gives the link's
// name for error messages, and it is the `orig` object rtnl_link_change() wants. That costs one extra
// round trip, which is fine on the control path this module serves.
#include "tapnl/link.h"

#include "link_convert.h"

#include <linux/if.h>
#include <linux/sockios.h>
#include <linux/if_link.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvlan.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "tapcore/ifname.h"
#include "tapcore/log.h"

namespace tapd::nl {
namespace {

struct link_deleter {
    void operator()(rtnl_link* l) const noexcept { rtnl_link_put(l); }
};
using link_ptr = std::unique_ptr<rtnl_link, link_deleter>;

struct addr_deleter {
    void operator()(nl_addr* a) const noexcept { nl_addr_put(a); }
};
using addr_ptr = std::unique_ptr<nl_addr, addr_deleter>;

// libnl folds kernel errnos into its own NLE_* codes (nl_syserr2nlerr); this undoes that as far as
// the folding allows, so callers can branch on the usual errno values.
int nl_to_errno(int nl_err) {
    switch (nl_err < 0 ? -nl_err : nl_err) {
        case NLE_NODEV:
        case NLE_OBJ_NOTFOUND:  // ENOENT/ESRCH from the kernel; for links that means "no such link"
            return ENODEV;
        case NLE_PERM:
            return EPERM;
        case NLE_NOACCESS:
            return EACCES;
        case NLE_EXIST:
            return EEXIST;  // also EADDRINUSE, which libnl folds into the same code
        case NLE_BUSY:
            return EBUSY;
        case NLE_INVAL:
        case NLE_MISSING_ATTR:
        case NLE_ATTRSIZE:
        case NLE_IMMUTABLE:
            return EINVAL;
        case NLE_RANGE:
            return ERANGE;
        case NLE_NOMEM:
            return ENOMEM;  // also ENOBUFS
        case NLE_OPNOTSUPP:
        case NLE_MSGTYPE_NOSUPPORT:
            return EOPNOTSUPP;
        case NLE_AF_NOSUPPORT:
            return EAFNOSUPPORT;
        case NLE_PROTO_MISMATCH:
            return EPROTONOSUPPORT;
        case NLE_NOADDR:
            return EADDRNOTAVAIL;
        case NLE_INTR:
            return EINTR;
        case NLE_AGAIN:
            return EAGAIN;
        case NLE_BAD_SOCK:
            return EBADF;
        case NLE_MSGSIZE:
        case NLE_MSG_OVERFLOW:
            return EMSGSIZE;
        default:
            return EIO;
    }
}

error nl_error(int nl_err, const std::string& what) {
    return make_error(nl_to_errno(nl_err), what + ": " + nl_geterror(nl_err));
}

// "tap0 (ifindex 7)" once the name is known, "ifindex 7" before.
std::string describe(int ifindex, const char* name) {
    std::string d = "ifindex " + std::to_string(ifindex);
    if (name == nullptr || *name == '\0') return d;
    return std::string(name) + " (" + d + ")";
}

std::string format_mac(const mac_address& mac) {
    char buf[18];
    (void)std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                        mac[4], mac[5]);
    return buf;
}

// Names the kernel could never accept are refused here, so the message says why rather than
// relaying a bare EINVAL from the kernel's attribute policy.
result<std::string> checked_name(std::string_view name, const std::string& what) {
    if (const char* why = ifname_problem(name))
        return make_error(EINVAL, what + ": invalid interface name (" + why + ")");
    return std::string(name);
}

result<link_ptr> fetch(nl_sock* sk, int ifindex, const char* name, const std::string& what) {
    if (sk == nullptr) return make_error(EBADF, what + ": route_socket is closed (moved from)");
    if (name == nullptr && ifindex <= 0) {
        return make_error(ENODEV, what + ": no link has ifindex " + std::to_string(ifindex));
    }
    rtnl_link* raw = nullptr;
    if (int err = rtnl_link_get_kernel(sk, ifindex, name, &raw); err < 0) return nl_error(err, what);
    link_ptr l(raw);
    if (!l) return make_error(ENODEV, what + ": kernel returned no link");  // defensive; libnl allows it
    return l;
}

// Fetches link `ifindex` and applies `changes` to it; `what(name_or_index)` builds the message prefix.
template <typename Describe>
result<void> change(nl_sock* sk, int ifindex, rtnl_link* changes, Describe what) {
    auto orig = fetch(sk, ifindex, nullptr, what(describe(ifindex, nullptr)));
    if (!orig) return orig.err();
    if (int err = rtnl_link_change(sk, orig->get(), changes, 0); err < 0) {
        return nl_error(err, what(describe(ifindex, rtnl_link_get_name(orig->get()))));
    }
    return ok();
}

link_ptr alloc_link(const std::string& what, error& err) {
    link_ptr l(rtnl_link_alloc());
    if (!l) err = make_error(ENOMEM, what + ": cannot allocate rtnl_link");
    return l;
}

}  // namespace

link_info link_info_from(rtnl_link* l) {
    link_info info;
    info.ifindex = rtnl_link_get_ifindex(l);
    if (const char* name = rtnl_link_get_name(l)) info.name = name;
    info.mtu = rtnl_link_get_mtu(l);
    info.txqlen = rtnl_link_get_txqlen(l);
    // Links without a 6-byte hardware address (tun in IFF_TUN mode, IP tunnels) keep mac{} (all zero).
    if (nl_addr* a = rtnl_link_get_addr(l); a != nullptr && nl_addr_get_len(a) == info.mac.size()) {
        std::memcpy(info.mac.data(), nl_addr_get_binary_addr(a), info.mac.size());
    }
    info.flags = rtnl_link_get_flags(l);
    info.admin_up = (info.flags & IFF_UP) != 0;
    // The kernel reports IFF_LOWER_UP only while the link is up and has carrier, which is exactly
    // what "carrier" means to tapd.
    info.carrier = (info.flags & IFF_LOWER_UP) != 0;
    if (const char* kind = rtnl_link_get_type(l)) info.kind = kind;
    return info;
}

result<route_socket> route_socket::open() {
    nl_sock* sk = nl_socket_alloc();
    if (sk == nullptr) return make_error(ENOMEM, "open NETLINK_ROUTE socket: cannot allocate nl_sock");
    route_socket s(sk);  // owns sk from here, so every return below frees it
    if (int err = nl_connect(sk, NETLINK_ROUTE); err < 0) return nl_error(err, "open NETLINK_ROUTE socket");
    return s;
}

route_socket::route_socket(route_socket&& o) noexcept : sk_(std::exchange(o.sk_, nullptr)) {}

route_socket& route_socket::operator=(route_socket&& o) noexcept {
    if (this != &o) {
        if (sk_ != nullptr) nl_socket_free(sk_);
        sk_ = std::exchange(o.sk_, nullptr);
    }
    return *this;
}

route_socket::~route_socket() {
    if (sk_ != nullptr) nl_socket_free(sk_);  // also closes the socket
}

result<link_info> route_socket::get_link(std::string_view name) {
    const std::string what = "get link " + std::string(name);
    auto n = checked_name(name, what);
    if (!n) return n.err();
    auto l = fetch(sk_, 0, n->c_str(), what);
    if (!l) return l.err();
    return link_info_from(l->get());
}

result<link_info> route_socket::get_link(int ifindex) {
    auto l = fetch(sk_, ifindex, nullptr, "get link " + describe(ifindex, nullptr));
    if (!l) return l.err();
    return link_info_from(l->get());
}

int route_socket::read_state(int ifindex, link_state& out) noexcept {
    // No libnl here: its requests allocate (messages, objects, caches). The SIOCGIF* ioctls answer from
    // the same kernel state with a struct ifreq on the stack; any socket's fd takes them, this one is at
    // hand. They go by name, so the ifindex is turned into the current name first (a rename between the
    // calls makes them fail with ENODEV, which the caller treats like any failed re-read).
    if (sk_ == nullptr) return -EBADF;
    const int fd = nl_socket_get_fd(sk_);
    ifreq ifr{};
    ifr.ifr_ifindex = ifindex;
    if (::ioctl(fd, SIOCGIFNAME, &ifr) < 0) return -errno;
    if (::ioctl(fd, SIOCGIFMTU, &ifr) < 0) return -errno;
    link_state st;
    st.mtu = static_cast<unsigned>(ifr.ifr_mtu);
    if (::ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return -errno;
    st.admin_up = (ifr.ifr_flags & IFF_UP) != 0;
    if (::ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) return -errno;
    std::memcpy(st.mac.data(), ifr.ifr_hwaddr.sa_data, st.mac.size());
    out = st;
    return 0;
}

result<link_stats> route_socket::get_stats(int ifindex) {
    auto l = fetch(sk_, ifindex, nullptr, "get stats of " + describe(ifindex, nullptr));
    if (!l) return l.err();
    // libnl fills these from IFLA_STATS64 (IFLA_STATS on old kernels) in the RTM_GETLINK reply.
    rtnl_link* raw = l->get();
    link_stats s;
    s.rx_packets = rtnl_link_get_stat(raw, RTNL_LINK_RX_PACKETS);
    s.tx_packets = rtnl_link_get_stat(raw, RTNL_LINK_TX_PACKETS);
    s.rx_bytes = rtnl_link_get_stat(raw, RTNL_LINK_RX_BYTES);
    s.tx_bytes = rtnl_link_get_stat(raw, RTNL_LINK_TX_BYTES);
    s.rx_dropped = rtnl_link_get_stat(raw, RTNL_LINK_RX_DROPPED);
    s.tx_dropped = rtnl_link_get_stat(raw, RTNL_LINK_TX_DROPPED);
    return s;
}

result<void> route_socket::set_up(int ifindex, bool up) {
    const char* verb = up ? "bring up " : "bring down ";
    auto what = [verb](const std::string& link) { return verb + link; };
    error alloc_err;
    link_ptr changes = alloc_link(what(describe(ifindex, nullptr)), alloc_err);
    if (!changes) return alloc_err;
    // The flag mask libnl builds from set/unset makes the kernel touch IFF_UP and nothing else.
    if (up) {
        rtnl_link_set_flags(changes.get(), IFF_UP);
    } else {
        rtnl_link_unset_flags(changes.get(), IFF_UP);
    }
    return change(sk_, ifindex, changes.get(), what);
}

result<void> route_socket::set_mtu(int ifindex, unsigned mtu) {
    auto what = [mtu](const std::string& link) {
        return "set MTU of " + link + " to " + std::to_string(mtu);
    };
    error alloc_err;
    link_ptr changes = alloc_link(what(describe(ifindex, nullptr)), alloc_err);
    if (!changes) return alloc_err;
    rtnl_link_set_mtu(changes.get(), mtu);
    return change(sk_, ifindex, changes.get(), what);
}

result<void> route_socket::set_mac(int ifindex, const mac_address& mac) {
    auto what = [&mac](const std::string& link) { return "set MAC of " + link + " to " + format_mac(mac); };
    error alloc_err;
    link_ptr changes = alloc_link(what(describe(ifindex, nullptr)), alloc_err);
    if (!changes) return alloc_err;
    addr_ptr addr(nl_addr_build(AF_LLC, mac.data(), mac.size()));
    if (!addr) return make_error(ENOMEM, what(describe(ifindex, nullptr)) + ": cannot allocate nl_addr");
    rtnl_link_set_addr(changes.get(), addr.get());  // takes its own reference
    return change(sk_, ifindex, changes.get(), what);
}

result<void> route_socket::set_txqlen(int ifindex, unsigned txqlen) {
    auto what = [txqlen](const std::string& link) {
        return "set txqueuelen of " + link + " to " + std::to_string(txqlen);
    };
    error alloc_err;
    link_ptr changes = alloc_link(what(describe(ifindex, nullptr)), alloc_err);
    if (!changes) return alloc_err;
    rtnl_link_set_txqlen(changes.get(), txqlen);
    return change(sk_, ifindex, changes.get(), what);
}

result<link_info> route_socket::create_macvlan(std::string_view name, int lower_ifindex, macvlan_mode mode) {
    auto what = [&](const std::string& lower) {
        return "create macvlan " + std::string(name) + " (mode " + std::string(to_name(macvlan_mode_names, mode)) +
               ") on " + lower;
    };
    auto n = checked_name(name, what(describe(lower_ifindex, nullptr)));
    if (!n) return n.err();
    // Looking the lower link up first names it in every later message and turns a missing lower link
    // into ENODEV instead of whatever the kernel's IFLA_LINK validation reports.
    auto lower = fetch(sk_, lower_ifindex, nullptr, what(describe(lower_ifindex, nullptr)));
    if (!lower) return lower.err();
    const std::string full_what = what(describe(lower_ifindex, rtnl_link_get_name(lower->get())));

    link_ptr l(rtnl_link_macvlan_alloc());
    if (!l) return make_error(ENOMEM, full_what + ": cannot allocate rtnl_link");
    rtnl_link_set_name(l.get(), n->c_str());
    rtnl_link_set_link(l.get(), lower_ifindex);
    if (int err = rtnl_link_macvlan_set_mode(l.get(), static_cast<std::uint32_t>(mode)); err < 0) {
        return nl_error(err, full_what);
    }
    // NLM_F_EXCL: an existing link of that name is an error (EEXIST), never silently reused.
    if (int err = rtnl_link_add(sk_, l.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
        return nl_error(err, full_what);
    }

    auto created = fetch(sk_, 0, n->c_str(), full_what + ": read back");
    if (!created) {
        // The caller cannot delete a link whose ifindex it never learnt, so do it here (best effort: the
        // read-back's error is what the caller gets; a failed clean-up is logged).
        link_ptr victim{rtnl_link_alloc()};
        int err = -NLE_NOMEM;
        if (victim) {
            rtnl_link_set_name(victim.get(), n->c_str());
            err = rtnl_link_delete(sk_, victim.get());
        }
        if (err < 0) log::warning(nl_error(err, "delete macvlan " + *n + " after a failed read-back").message);
        return created.err();
    }
    return link_info_from(created->get());
}

result<void> route_socket::delete_link(int ifindex) {
    auto l = fetch(sk_, ifindex, nullptr, "delete link " + describe(ifindex, nullptr));
    if (!l) return l.err();
    // Delete by ifindex only: the fetched object also carries the name, and ifindex is what the
    // caller asked for.
    link_ptr victim(rtnl_link_alloc());
    if (!victim) return make_error(ENOMEM, "delete link " + describe(ifindex, nullptr) + ": cannot allocate");
    rtnl_link_set_ifindex(victim.get(), ifindex);
    if (int err = rtnl_link_delete(sk_, victim.get()); err < 0) {
        return nl_error(err, "delete link " + describe(ifindex, rtnl_link_get_name(l->get())));
    }
    return ok();
}

}  // namespace tapd::nl
