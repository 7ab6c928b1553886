// device_manager.h — tapd's devices: their creation from the command line, their front ends, and their
// lives as the links under them change.
//
// Theory of operation
// -------------------
// Each device is a backend (a TUN interface tapd creates, or an AF_PACKET socket on a macvlan tapd
// creates or on a link it attaches to), a libtapcore device, and a front end (its own CUSE session, or
// an entry of the shared FUSE mount). The link monitor reports every change to the links; the manager
// forwards those of its devices' links to them (MTU, MAC, admin state, carrier, name).
//
// Cloning (--clone): /dev/tap is a session of its own whose every open creates the lowest free tapN (a
// TUN interface, BSD personality) bound to that file alone; closing the file removes it again.
//
// Removal (the link was deleted, or the backend failed for good): the device is shut down at once
// (parked reads fail with ENODEV, later operations on open files too), links tapd created are deleted,
// the device node is unlinked so nobody new can open it, and the CUSE session itself ends once the last
// open file is closed. Other devices are untouched. Sessions and devices are destroyed from the loop's
// deferred pass (on_ready), never from inside a callback of the object being destroyed.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuse_session.h"
#include "fuse_mount.h"
#include "options.h"
#include "tapcore/device.h"
#include "tapcore/event_loop.h"
#include "tapnl/link.h"
#include "tapnl/link_monitor.h"

namespace tapd {

class device_manager final : public nl::link_listener, public io_watcher {
public:
    // Startup: creates every device and its front end; throws std::runtime_error naming what failed.
    // Devices created before a failure are torn down again by the destructor.
    device_manager(event_loop& loop, const options& opt);
    ~device_manager();
    device_manager(const device_manager&) = delete;
    device_manager& operator=(const device_manager&) = delete;

    // Called once every device node exists (CUSE sessions initialised, or the FUSE mount is up).
    void set_on_ready(std::function<void()> fn);
    void log_stats() const;
    // Orderly stop: every device removed (nodes, then devices, then links tapd created).
    void shutdown() noexcept;

    void on_link_changed(const link_info& link) noexcept override;
    void on_link_deleted(int ifindex, const std::string& name) noexcept override;
    void on_link_resync() noexcept override;
    void on_ready(unsigned events) noexcept override;  // deferred destruction of removed devices

private:
    struct served {
        device_spec spec;
        std::string node;
        std::unique_ptr<device> dev;
        std::unique_ptr<cuse_session> session;
        int created_ifindex = 0;  // a link tapd created (macvlan): deleted with the device
        bool removed = false;
        bool idle = false;        // removed and no file open any more: may be destroyed
        bool cloned = false;      // made by an open of the cloning node, for that file alone
    };

    served& create_device(const device_spec& spec);
    result<device*> clone_open() noexcept;
    void clone_closed(device* d) noexcept;
    served* by_ifindex(int ifindex);
    void remove(served& s, const std::string& why) noexcept;
    void check_ready();

    event_loop& loop_;
    const options& opt_;
    nl::route_socket nl_;
    std::unique_ptr<nl::link_monitor> monitor_;
    std::vector<std::unique_ptr<served>> devices_;
    std::unique_ptr<fuse_mount> mount_;
    std::unique_ptr<cuse_session> clone_session_;  // /dev/tap with --clone
    std::size_t expected_ready_ = 0;
    std::function<void()> on_ready_;
    std::size_t ready_count_ = 0;
    bool ready_sent_ = false;
};

}  // namespace tapd
