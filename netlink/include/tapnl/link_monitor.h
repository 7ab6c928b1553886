// link_monitor.h — keeps tapd's view of the links it uses current, from RTNLGRP_LINK notifications.
//
// A NETLINK_ROUTE socket subscribed to link events is watched by the event loop like any other fd; each
// RTM_NEWLINK (state, carrier, MTU, MAC, name changed) or RTM_DELLINK is handed to the listener. If the
// kernel drops notifications (the socket's buffer overflowed: ENOBUFS), the listener is told to resync,
// since some change may have been missed.
#pragma once

#include <memory>
#include <string>

#include "tapcore/event_loop.h"
#include "tapcore/result.h"
#include "tapnl/link.h"

struct nl_sock;
struct nl_msg;

namespace tapd::nl {

class link_listener {
public:
    virtual void on_link_changed(const link_info& link) noexcept = 0;
    virtual void on_link_deleted(int ifindex, const std::string& name) noexcept = 0;
    virtual void on_link_resync() noexcept = 0;

protected:
    ~link_listener() = default;
};

class link_monitor final : public io_watcher {
public:
    // Startup: subscribes and starts watching. Throws nothing; errors come back as results.
    static result<std::unique_ptr<link_monitor>> create(event_loop& loop, link_listener& listener);
    ~link_monitor();
    link_monitor(const link_monitor&) = delete;
    link_monitor& operator=(const link_monitor&) = delete;

    void on_ready(unsigned events) noexcept override;

private:
    link_monitor(event_loop& loop, link_listener& listener) : loop_(loop), listener_(listener) {}
    static int on_msg(nl_msg* msg, void* arg);

    event_loop& loop_;
    link_listener& listener_;
    nl_sock* sk_ = nullptr;
    event_loop::watch* watch_ = nullptr;
};

}  // namespace tapd::nl
