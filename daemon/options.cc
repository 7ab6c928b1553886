// options.cc — command line parsing. Startup only: errors are exceptions with a message for the user.
#include "options.h"

#include <charconv>
#include <stdexcept>

#include "tapcore/ifname.h"

namespace tapd {
namespace {

unsigned parse_unsigned(const std::string& what, const std::string& v, unsigned min, unsigned max) {
    unsigned out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || p != v.data() + v.size() || out < min || out > max)
        throw std::invalid_argument(what + " must be a number from " + std::to_string(min) + " to " +
                                    std::to_string(max) + ", not '" + v + "'");
    return out;
}

// An enum's value from its name table; an unknown name is an error naming the choices, never a default.
template <typename E, std::size_t N>
E parse_enum(const std::string& what, const std::array<named<E>, N>& table, const std::string& v) {
    if (auto e = from_name(table, v)) return *e;
    throw std::invalid_argument(what + " must be " + name_choices(table) + ", not '" + v + "'");
}

}  // namespace

const char* usage() {
    static const std::string text =
        "usage: tapd [--foreground] [--fuse-mount DIR] [--txqueuelen N] [--clone] --device NAME[,key=value...] ...\n"
        "\n"
        "  --device NAME      create kernel TAP interface NAME and serve it as /dev/NAME (repeatable)\n"
        "      backend=packet,lower=IF[,mode=" + name_choices(macvlan_mode_names, "|", "|") + "]\n"
        "                     macvtap in userspace: create macvlan NAME on IF, serve it as /dev/tap<ifindex>\n"
        "      backend=packet,attach=IF\n"
        "                     serve the existing link IF (created nothing, deletes nothing)\n"
        "      node=NODE      publish the device node as /dev/NODE instead\n"
        "      node=@ifindex  publish it as /dev/tap<ifindex>, the name macvtap users compute\n"
        "      txqueuelen=N   the interface's txqueuelen, which also bounds each open file's queue\n"
        "      personality=" + name_choices(personality_names, "|", "|") + "\n"
        "                     linux: macvtap's character device (default); bsd: NetBSD tap(4)\n"
        "  --clone            publish the cloning /dev/tap: each open creates the lowest free tapN\n"
        "                     (BSD personality), destroyed when that file is closed\n"
        "  --fuse-mount DIR   serve the devices as files DIR/NODE through FUSE (kernels without CUSE)\n"
        "  --txqueuelen N     default txqueuelen for every device (1000)\n"
        "  --foreground       stay in the foreground (tapd never forks; accepted for compatibility)\n"
        "  --help, --version\n";
    return text.c_str();
}

device_spec parse_device_spec(const std::string& spec) {
    device_spec d;
    std::size_t pos = spec.find(',');
    d.name = spec.substr(0, pos);
    if (const char* why = ifname_problem(d.name))
        throw std::invalid_argument("--device: '" + d.name + "' is not a valid interface name (" + why + ")");
    while (pos != std::string::npos) {
        std::size_t next = spec.find(',', pos + 1);
        std::string kv = spec.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
        pos = next;
        std::size_t eq = kv.find('=');
        if (eq == std::string::npos) throw std::invalid_argument("--device " + d.name + ": '" + kv + "' is not key=value");
        std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
        if (k == "node") {
            if (v != "@ifindex" && (!valid_ifname(v) || v[0] == '@'))
                throw std::invalid_argument("--device " + d.name + ": node '" + v + "' is not a valid device name");
            d.node = v;
        } else if (k == "backend") {
            d.backend = parse_enum("--device " + d.name + ": backend", backend_names, v);
        } else if (k == "lower" || k == "attach") {
            if (const char* why = ifname_problem(v))
                throw std::invalid_argument("--device " + d.name + ": " + k + " '" + v +
                                            "' is not a valid interface name (" + why + ")");
            (k == "lower" ? d.lower : d.attach) = v;
        } else if (k == "mode") {
            d.mode = parse_enum("--device " + d.name + ": mode", macvlan_mode_names, v);
        } else if (k == "personality") {
            d.personality = parse_enum("--device " + d.name + ": personality", personality_names, v);
        } else if (k == "txqueuelen") {
            d.txqueuelen = parse_unsigned("--device " + d.name + ": txqueuelen", v, 1, 1u << 20);
        } else {
            throw std::invalid_argument("--device " + d.name + ": unknown key '" + k + "'");
        }
    }
    if (d.backend == backend_kind::packet) {
        if (d.lower.empty() == d.attach.empty())
            throw std::invalid_argument("--device " + d.name + ": backend=packet needs exactly one of lower=IF or attach=IF");
    } else if (!d.lower.empty() || !d.attach.empty()) {
        throw std::invalid_argument("--device " + d.name + ": lower= and attach= need backend=packet");
    }
    if (d.node.empty()) d.node = d.backend == backend_kind::packet ? "@ifindex" : d.name;
    return d;
}

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const std::string& opt) -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(opt + " needs a value");
            return argv[++i];
        };
        if (a == "--foreground" || a == "-f") {
            o.foreground = true;
        } else if (a == "--device" || a == "-d") {
            o.devices.push_back(parse_device_spec(value(a)));
        } else if (a.rfind("--device=", 0) == 0) {
            o.devices.push_back(parse_device_spec(a.substr(9)));
        } else if (a == "--fuse-mount") {
            o.fuse_mount_dir = value(a);
            if (o.fuse_mount_dir->empty()) throw std::invalid_argument("--fuse-mount needs a directory, not ''");
        } else if (a == "--clone") {
            o.clone = true;
        } else if (a == "--txqueuelen") {
            o.txqueuelen = parse_unsigned("--txqueuelen", value(a), 1, 1u << 20);
        } else if (a == "--help" || a == "-h") {
            o.help = true;
        } else if (a == "--version") {
            o.version = true;
        } else {
            throw std::invalid_argument("unknown argument '" + a + "'");
        }
    }
    if (!o.help && !o.version && o.devices.empty() && !o.clone)
        throw std::invalid_argument("no --device and no --clone given: nothing to serve");
    if (o.clone && o.fuse_mount_dir)
        throw std::invalid_argument("--clone needs CUSE (a cloning device node); it does not work with --fuse-mount");
    for (std::size_t i = 0; i < o.devices.size(); ++i)
        for (std::size_t j = 0; j < i; ++j) {
            if (o.devices[i].name == o.devices[j].name)
                throw std::invalid_argument("--device " + o.devices[i].name + " given twice");
            if (o.devices[i].node == o.devices[j].node && o.devices[i].node != "@ifindex")
                throw std::invalid_argument("device node '" + o.devices[i].node + "' used twice");
        }
    return o;
}

}  // namespace tapd
