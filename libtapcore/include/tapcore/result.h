// result.h — how tapd reports errors: one convention, stated here once for every module.
//
// 1. The data path — per frame and per request: device, queue, backends, personalities and their ioctl
//    handlers, link_control::read_state, the front ends' request handlers — returns 0 (or a count) or
//    -errno, as the kernel does. Never a positive errno, never `errno` itself, never an exception; per
//    frame it allocates nothing.
// 2. Module edges — creating things, netlink requests, the control path — return result<T>: a value, or
//    an `error` whose code is a positive errno and whose message names the object ("TUNSETIFF tap0:
//    Operation not permitted"). Where the two forms meet, the crossing is written out: `-e.code` into
//    the data path, make_error(-rc, ...) out of it.
// 3. Other people's interfaces keep theirs: fuse_reply_err() takes a positive errno, so the front ends
//    negate at that call and nowhere else.
// 4. Only startup throws (daemon/: the options, creating the devices), and no exception crosses a
//    libfuse callback. A failure nobody can return is logged (log.h), never dropped silently.
//
// result<T> is tl::expected<T, error> (Debian's libexpected-dev; the same interface as C++23's
// std::expected, which can replace it by changing the base class below), with two conveniences kept
// from tapd's earlier type so every call site reads the same: a failing function returns an `error`
// (make_error, errno_error, another result's err()) and it converts; err() names the error.
#pragma once

#include <tl/expected.hpp>

#include <cerrno>
#include <string>
#include <utility>

namespace tapd {

struct error {
    int code = EIO;       // positive errno
    std::string message;  // what failed, naming the object ("TUNSETIFF tap0: Operation not permitted")

    std::string what() const { return message; }
};

inline error make_error(int code, std::string message) { return error{code, std::move(message)}; }
// Builds an error from errno as left by the failing call, with "what: strerror" as its message.
error errno_error(const std::string& what, int code);
error errno_error(const std::string& what);

template <typename T>
class [[nodiscard]] result : public tl::expected<T, tapd::error> {
    using base = tl::expected<T, tapd::error>;

public:
    using base::base;
    result() = default;
    result(tapd::error e) : base(tl::unexpect, std::move(e)) {}  // NOLINT(google-explicit-constructor)

    const tapd::error& err() const { return this->error(); }
};

inline result<void> ok() { return {}; }

}  // namespace tapd
