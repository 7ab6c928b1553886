// link_monitor.cc — see link_monitor.h.
#include "tapnl/link_monitor.h"

#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <memory>

#include "link_convert.h"
#include "tapcore/log.h"

namespace tapd::nl {

result<std::unique_ptr<link_monitor>> link_monitor::create(event_loop& loop, link_listener& listener) {
    std::unique_ptr<link_monitor> m(new link_monitor(loop, listener));
    m->sk_ = nl_socket_alloc();
    if (!m->sk_) return make_error(ENOMEM, "link monitor: nl_socket_alloc failed");
    // Notifications carry no sequence numbers of ours.
    nl_socket_disable_seq_check(m->sk_);
    nl_socket_modify_cb(m->sk_, NL_CB_VALID, NL_CB_CUSTOM, on_msg, m.get());
    if (int e = nl_connect(m->sk_, NETLINK_ROUTE); e < 0)
        return make_error(EIO, std::string("link monitor: connect: ") + nl_geterror(e));
    if (int e = nl_socket_add_memberships(m->sk_, RTNLGRP_LINK, 0); e < 0)
        return make_error(EIO, std::string("link monitor: join RTNLGRP_LINK: ") + nl_geterror(e));
    // A blocking socket would stall the whole loop in on_ready's drain.
    if (int e = nl_socket_set_nonblocking(m->sk_); e < 0)
        return make_error(EIO, std::string("link monitor: O_NONBLOCK: ") + nl_geterror(e));
    // A burst of link changes (many devices at once) must not overflow the default buffer. Without the
    // larger one an overflow is still handled (ENOBUFS → resync), only sooner.
    if (int e = nl_socket_set_buffer_size(m->sk_, 1 << 20, 0); e < 0)
        log::warning(std::string("link monitor: receive buffer of 1 MiB refused: ") + nl_geterror(e));
    m->watch_ = loop.watch_fd(nl_socket_get_fd(m->sk_), m.get());
    return m;
}

link_monitor::~link_monitor() {
    if (watch_) loop_.unwatch(watch_);
    if (sk_) nl_socket_free(sk_);
}

int link_monitor::on_msg(nl_msg* msg, void* arg) {
    auto* self = static_cast<link_monitor*>(arg);
    int type = nlmsg_hdr(msg)->nlmsg_type;
    if (type != RTM_NEWLINK && type != RTM_DELLINK) return NL_OK;
    struct ctx_t {
        link_monitor* self;
        int type;
    } ctx{self, type};
    int e = nl_msg_parse(
        msg,
        [](nl_object* obj, void* a) {
            auto* c = static_cast<ctx_t*>(a);
            auto* l = reinterpret_cast<rtnl_link*>(obj);
            link_info info = link_info_from(l);
            if (c->type == RTM_DELLINK)
                c->self->listener_.on_link_deleted(info.ifindex, info.name);
            else
                c->self->listener_.on_link_changed(info);
        },
        &ctx);
    if (e < 0) {
        // A change tapd could not read may be one it needed: ask about every link instead.
        log::writef(log::level::warning, "link monitor: unreadable link notification (%s), resyncing",
                    nl_geterror(e));
        self->listener_.on_link_resync();
    }
    return NL_OK;
}

void link_monitor::on_ready(unsigned /*events*/) noexcept {
    // Drain: nl_recvmsgs returns a negative NLE_* once the socket has nothing more.
    for (int i = 0; i < 64; ++i) {
        int e = nl_recvmsgs_default(sk_);
        if (e >= 0) continue;
        if (e == -NLE_AGAIN) return;
        if (e == -NLE_NOMEM) {  // ENOBUFS: notifications were lost
            log::warning("link monitor: notifications lost (ENOBUFS), resyncing");
            listener_.on_link_resync();
            continue;
        }
        // Anything else: keep watching, the next event retries.
        log::writef(log::level::warning, "link monitor: receive failed: %s", nl_geterror(e));
        return;
    }
    loop_.defer(this);
}

}  // namespace tapd::nl
