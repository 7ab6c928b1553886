// options.h — tapd's command line (a contract tests and docs rely on: keep it stable).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "tapcore/link_control.h"
#include "tapcore/names.h"
#include "tapcore/personality.h"

namespace tapd {

enum class backend_kind { tun, packet };
inline constexpr std::array<named<backend_kind>, 2> backend_names{{
    {backend_kind::tun, "tun"},
    {backend_kind::packet, "packet"},
}};
static_assert(names_unique(backend_names));

struct device_spec {
    std::string name;       // the interface name (tap0); for backend=packet,attach=IF a label only
    backend_kind backend = backend_kind::tun;
    std::string lower;      // packet: create macvlan NAME on this link
    macvlan_mode mode = macvlan_mode::bridge;  // packet, lower=: the macvlan's mode
    std::string attach;     // packet: bind to this existing link, create nothing
    std::string node;       // the device node name under /dev (default: the interface name for tun,
                            // tap<ifindex> for packet, as the kernel's macvtap names it);
                            // "@ifindex" publishes /dev/tap<ifindex>, the name macvtap users compute
    unsigned txqueuelen = 0;// 0: the global default
    personality_kind personality = personality_kind::linux_;
};

struct options {
    bool foreground = false;
    std::vector<device_spec> devices;
    std::optional<std::string> fuse_mount_dir;
    bool clone = false;  // publish the cloning /dev/tap (BSD personality)
    unsigned txqueuelen = 1000;
    bool help = false;
    bool version = false;
};

// Parses argv; throws std::invalid_argument with a message naming the bad argument (startup only).
options parse_options(int argc, char** argv);
device_spec parse_device_spec(const std::string& spec);
const char* usage();

}  // namespace tapd
