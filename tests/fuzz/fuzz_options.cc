// fuzz_options.cc — the command line parser over arbitrary argv (input split on NUL bytes).
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "options.h"
#include "tapcore/ifname.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::string> strs{"tapd"};
    std::string cur;
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == 0) {
            strs.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(static_cast<char>(data[i]));
        }
    }
    strs.push_back(cur);
    std::vector<char*> argv;
    for (auto& s : strs) argv.push_back(s.data());
    argv.push_back(nullptr);

    try {
        tapd::options o = tapd::parse_options(static_cast<int>(strs.size()), argv.data());
        if (!o.help && !o.version && o.devices.empty() && !o.clone) std::abort();  // something to serve
        if (o.clone && o.fuse_mount_dir) std::abort();  // cloning needs CUSE
        if (o.txqueuelen < 1 || o.txqueuelen > (1u << 20)) std::abort();
        for (std::size_t i = 0; i < o.devices.size(); ++i) {
            const auto& d = o.devices[i];
            if (d.name.empty() || d.name.size() > tapd::ifname_max || d.name.find('/') != std::string::npos)
                std::abort();
            if (d.node.empty() || d.node.find('/') != std::string::npos) std::abort();
            if (d.txqueuelen > (1u << 20)) std::abort();
            for (std::size_t j = 0; j < i; ++j)
                if (o.devices[j].name == d.name) std::abort();
        }
    } catch (const std::invalid_argument& e) {
        if (std::string(e.what()).empty()) std::abort();  // every error names what was wrong
    }
    // The whole input as one --device spec as well.
    try {
        tapd::device_spec d = tapd::parse_device_spec(std::string(reinterpret_cast<const char*>(data), size));
        if (d.name.empty() || d.name.size() > tapd::ifname_max || d.node.empty()) std::abort();
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
