// The smallest shim Swift needs for libnl-3 / libnl-genl-3 and the kernel's IPVS uapi.
// Only what Swift cannot import by itself lives here: computed *_MAX defines.
#ifndef TANDEM_CLIBNL_SHIM_H
#define TANDEM_CLIBNL_SHIM_H

#include <netlink/netlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <linux/ip_vs.h>

/// IPVS_CMD_ATTR_MAX etc. are `(__X - 1)` expressions Swift does not import.
static const int tandem_IPVS_CMD_ATTR_MAX = IPVS_CMD_ATTR_MAX;
static const int tandem_IPVS_SVC_ATTR_MAX = IPVS_SVC_ATTR_MAX;
static const int tandem_IPVS_DEST_ATTR_MAX = IPVS_DEST_ATTR_MAX;
static const int tandem_IPVS_DAEMON_ATTR_MAX = IPVS_DAEMON_ATTR_MAX;
static const int tandem_IPVS_STATS_ATTR_MAX = IPVS_STATS_ATTR_MAX;
static const int tandem_IPVS_INFO_ATTR_MAX = IPVS_INFO_ATTR_MAX;

#endif
