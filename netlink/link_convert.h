// link_convert.h — libnl's rtnl_link to tapd's link_info (shared by route_socket and link_monitor).
#pragma once

#include "tapnl/link.h"

struct rtnl_link;

namespace tapd::nl {

link_info link_info_from(rtnl_link* l);

}  // namespace tapd::nl
