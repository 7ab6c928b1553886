// device_manager.cc — see device_manager.h.
#include "device_manager.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "tapcore/log.h"
#include "tapcore/packet_backend.h"
#include "tapcore/tun_backend.h"

namespace tapd {
namespace {

template <typename T>
T must(result<T> r) {
    if (!r) throw std::runtime_error(r.err().message);
    return std::move(*r);
}
void must(result<void> r) {
    if (!r) throw std::runtime_error(r.err().message);
}

nl::route_socket open_route() { return must(nl::route_socket::open()); }

// A link tapd made for a tap device must not talk on its own: no IPv6 autoconfiguration, so the kernel
// sends nothing the device's readers did not ask for (macvtap's netdev is as quiet: its frames go to the
// tap, not the stack).
void quiet_ipv6(const std::string& ifname) {
    std::string path = "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6";
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;  // IPv6 disabled in this kernel: nothing to quiet
    (void)!::write(fd, "1", 1);
    ::close(fd);
}

std::uint32_t random_u32() {
    std::uint32_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<std::uint32_t>(::getpid()) * 2654435761u;
    return r;
}

}  // namespace

device_manager::device_manager(event_loop& loop, const options& opt) : loop_(loop), opt_(opt), nl_(open_route()) {
    monitor_ = must(nl::link_monitor::create(loop_, *this));
    try {
        for (const device_spec& spec : opt_.devices) create_device(spec);
        expected_ready_ = devices_.size() + (opt_.clone ? 1 : 0);
        if (opt_.fuse_mount_dir) {
            std::vector<fuse_mount::entry> files;
            for (auto& s : devices_) files.push_back({s->node, s->dev.get()});
            mount_ = must(fuse_mount::create(loop_, *opt_.fuse_mount_dir, std::move(files)));
            for (auto& s : devices_) log::info("serving " + *opt_.fuse_mount_dir + "/" + s->node + " (FUSE mount)");
            ready_count_ = expected_ready_;
        } else {
            for (auto& sp : devices_) {
                served* s = sp.get();
                s->session = must(cuse_session::create(loop_, *s->dev, s->node, [this](cuse_session& cs) {
                    log::info("serving /dev/" + cs.node_name() + " (CUSE)");
                    ++ready_count_;
                    check_ready();
                }));
            }
            if (opt_.clone) {
                clone_session_ = must(cuse_session::create_clone(
                    loop_, "tap", [this] { return clone_open(); }, [this](device* d) { clone_closed(d); },
                    [this](cuse_session& cs) {
                        log::info("serving /dev/" + cs.node_name() + " (CUSE, cloning)");
                        ++ready_count_;
                        check_ready();
                    }));
            }
        }
    } catch (...) {
        shutdown();
        throw;
    }
}

device_manager::~device_manager() { shutdown(); }

device_manager::served& device_manager::create_device(const device_spec& spec) {
    auto s = std::make_unique<served>();
    s->spec = spec;
    std::unique_ptr<backend> be;
    link_info link;
    if (spec.backend == backend_kind::tun) {
        auto tun = must(tun_backend::create(spec.name));
        link = must(nl_.get_link(tun->ifname()));
        be = std::move(tun);
    } else if (!spec.lower.empty()) {
        auto lower = must(nl_.get_link(spec.lower));
        link = must(nl_.create_macvlan(spec.name, lower.ifindex, spec.mode));
        s->created_ifindex = link.ifindex;
        // From here on the macvlan is ours: a failure below must delete it (remove() does).
        try {
            quiet_ipv6(link.name);
            must(nl_.set_up(link.ifindex, true));
            be = must(packet_backend::create(link.ifindex, false));
        } catch (...) {
            if (auto r = nl_.delete_link(link.ifindex); !r) log::warning(r.err().message);
            throw;
        }
        log::info("macvlan " + link.name + " created on " + lower.name + " (mode " +
                  std::string(to_name(macvlan_mode_names, spec.mode)) + ")");
    } else {
        link = must(nl_.get_link(spec.attach));
        be = must(packet_backend::create(link.ifindex, true));
    }
    unsigned txqlen = spec.txqueuelen ? spec.txqueuelen : opt_.txqueuelen;
    if (link.txqlen != txqlen && spec.attach.empty()) {
        // Links tapd made take the configured bound; a link it only attached to keeps its own.
        must(nl_.set_txqlen(link.ifindex, txqlen));
        link = must(nl_.get_link(link.ifindex));
    }
    s->node = spec.node == "@ifindex" ? "tap" + std::to_string(link.ifindex) : spec.node;
    log::info("interface " + link.name + " (ifindex " + std::to_string(link.ifindex) + ", txqueuelen " +
        std::to_string(link.txqlen) + ") ready for " + s->node);
    bool bsd = spec.personality == personality_kind::bsd;
    if (bsd && spec.attach.empty()) {
        // NetBSD's tap_attach: a random locally administered address under the f2:0b:a4 prefix.
        mac_address mac{0xf2, 0x0b, 0xa4, 0, 0, 0};
        std::uint32_t r = random_u32();
        mac[3] = static_cast<std::uint8_t>(r >> 16);
        mac[4] = static_cast<std::uint8_t>(r >> 8);
        mac[5] = static_cast<std::uint8_t>(r);
        must(nl_.set_mac(link.ifindex, mac));
        link.mac = mac;
    }
    s->dev = std::make_unique<device>(loop_, nl_, std::move(be), std::move(link),
                                      make_personality(spec.personality));
    // tap(4): no carrier until somebody opens the device.
    if (bsd) s->dev->set_carrier(false);
    served* raw = s.get();
    s->dev->set_on_gone([this, raw](device&) { remove(*raw, "its backend failed (interface deleted)"); });
    devices_.push_back(std::move(s));
    return *raw;
}

result<device*> device_manager::clone_open() noexcept {
    // The lowest free tapN: neither an interface of that name nor one of ours.
    for (int n = 0; n < 4096; ++n) {
        std::string name = "tap" + std::to_string(n);
        if (::if_nametoindex(name.c_str()) != 0) continue;
        device_spec spec;
        spec.name = name;
        spec.node = "";
        spec.personality = personality_kind::bsd;
        try {
            served& s = create_device(spec);
            s.cloned = true;
            log::info("cloned " + name + " for an open of /dev/" + clone_session_->node_name());
            return s.dev.get();
        } catch (const std::exception& e) {
            // Taken between the check and the creation (EBUSY/EEXIST): try the next one.
            if (::if_nametoindex(name.c_str()) != 0) continue;
            log::err(std::string("clone: ") + e.what());
            return make_error(ENXIO, e.what());
        }
    }
    return make_error(ENXIO, "clone: no free tapN");
}

void device_manager::clone_closed(device* d) noexcept {
    for (auto& s : devices_)
        if (s->dev.get() == d) remove(*s, "its cloning file was closed");
}

void device_manager::set_on_ready(std::function<void()> fn) {
    on_ready_ = std::move(fn);
    check_ready();
}

void device_manager::check_ready() {
    if (!ready_sent_ && on_ready_ && ready_count_ >= expected_ready_) {
        ready_sent_ = true;
        on_ready_();
    }
}

device_manager::served* device_manager::by_ifindex(int ifindex) {
    for (auto& s : devices_)
        if (!s->removed && s->dev && s->dev->link().ifindex == ifindex) return s.get();
    return nullptr;
}

void device_manager::on_link_changed(const link_info& link) noexcept {
    if (served* s = by_ifindex(link.ifindex)) {
        if (!link.name.empty() && link.name != s->dev->link().name)
            log::info("interface " + s->dev->link().name + " renamed to " + link.name + "; /dev/" + s->node + " stays");
        s->dev->update_link(link);
    }
}

void device_manager::on_link_deleted(int ifindex, const std::string& name) noexcept {
    served* s = by_ifindex(ifindex);
    if (!s) return;
    // A TUN interface moved to another namespace also leaves ours, but keeps working: only a backend
    // whose kernel object is really gone takes the device down.
    if (!s->dev->backend_gone()) {
        log::info("interface " + name + " left this network namespace; " + s->node + " keeps serving it");
        return;
    }
    s->created_ifindex = 0;  // nothing left to delete
    remove(*s, "interface " + name + " was deleted");
}

void device_manager::on_link_resync() noexcept {
    // Notifications were lost: ask the kernel about every link in use.
    for (auto& s : devices_) {
        if (s->removed) continue;
        auto r = s->dev->refresh_link();
        if (!r && r.err().code == ENODEV && s->dev->backend_gone()) {
            s->created_ifindex = 0;
            remove(*s, "interface was deleted");
        }
    }
}

void device_manager::remove(served& s, const std::string& why) noexcept {
    if (s.removed) return;
    s.removed = true;
    log::info("removing " + (s.cloned ? "cloned " + s.dev->link().name : "/dev/" + s.node) + ": " + why);
    s.dev->shutdown(-ENODEV);
    if (s.created_ifindex) {
        // Already gone is fine: the deletion may be what brought us here.
        if (auto r = nl_.delete_link(s.created_ifindex); !r && r.err().code != ENODEV) log::warning(r.err().message);
        s.created_ifindex = 0;
    }
    if (mount_) mount_->remove_device(s.dev.get());
    if (s.session) {
        // Unlink the node now; end the session (and with it the kernel's device) once nothing is open,
        // so files still open keep getting ENODEV from tapd rather than the kernel's ENOTCONN.
        std::string path = "/dev/" + s.node;
        ::unlink(path.c_str());
        served* raw = &s;
        s.session->detach_device([this, raw] {
            raw->idle = true;
            loop_.defer(this);
        });
    } else {
        s.idle = true;
        loop_.defer(this);
    }
}

void device_manager::on_ready(unsigned) noexcept {
    // Deferred: destroy what remove() left idle, outside any callback of theirs.
    std::erase_if(devices_, [](const std::unique_ptr<served>& s) { return s->removed && s->idle; });
}

void device_manager::shutdown() noexcept {
    for (auto& s : devices_)
        if (!s->removed && s->dev) s->dev->shutdown(-ENODEV);
    // Front ends first: no request may reach a device being destroyed.
    clone_session_.reset();
    for (auto& s : devices_) s->session.reset();
    mount_.reset();
    for (auto& s : devices_) {
        if (s->created_ifindex) {
            if (auto r = nl_.delete_link(s->created_ifindex); !r) log::warning(r.err().message);
            else log::info("deleted interface " + (s->dev ? s->dev->link().name : std::to_string(s->created_ifindex)));
        }
        s->created_ifindex = 0;
    }
    devices_.clear();
    monitor_.reset();
}

void device_manager::log_stats() const {
    for (const auto& sp : devices_) {
        if (!sp->dev) continue;
        const device_stats& st = sp->dev->stats();
        char line[512];
        std::snprintf(line, sizeof line,
                      "stats %s: rx_frames=%llu rx_dropped_full=%llu rx_dropped_no_queue=%llu rx_errors=%llu "
                      "tx_frames=%llu tx_dropped=%llu queues=%zu",
                      sp->dev->link().name.c_str(), static_cast<unsigned long long>(st.rx_frames),
                      static_cast<unsigned long long>(st.rx_dropped_full),
                      static_cast<unsigned long long>(st.rx_dropped_no_queue),
                      static_cast<unsigned long long>(st.rx_errors), static_cast<unsigned long long>(st.tx_frames),
                      static_cast<unsigned long long>(st.tx_dropped), sp->dev->queue_count());
        log::info(line);
    }
}

}  // namespace tapd
