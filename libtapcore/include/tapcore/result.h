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
// C++20 has no std::expected, so this is the smallest expected-like type tapd needs.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

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
class [[nodiscard]] result {
public:
    result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    result(error err) : v_(std::move(err)) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const { return v_.index() == 0; }
    explicit operator bool() const { return has_value(); }
    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const error& err() const { return std::get<1>(v_); }

private:
    std::variant<T, error> v_;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(error err) : err_(std::move(err)), ok_(false) {}  // NOLINT(google-explicit-constructor)

    bool has_value() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const error& err() const { return err_; }

private:
    error err_;
    bool ok_ = true;
};

inline result<void> ok() { return {}; }

}  // namespace tapd
