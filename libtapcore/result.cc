#include "tapcore/result.h"

#include <cstring>

namespace tapd {

error errno_error(const std::string& what, int code) { return error{code, what + ": " + std::strerror(code)}; }
error errno_error(const std::string& what) { return errno_error(what, errno); }

}  // namespace tapd
