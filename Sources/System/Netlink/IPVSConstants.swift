import CLibNL

// The one place where the kernel's IPVS uapi constants (imported from <linux/ip_vs.h> through
// CLibNL as Int or Int32) are cast to the widths the wire uses. The IPVS module uses these names and
// never imports the C module.

/// Generic netlink names and numbers of the kernel's IPVS family (`<linux/ip_vs.h>`).
public enum IPVSWire {
    /// `IPVS_GENL_NAME`: the generic netlink family name, "IPVS".
    public static let familyName = IPVS_GENL_NAME
    /// `IPVS_GENL_VERSION`.
    public static let version = UInt8(IPVS_GENL_VERSION)

    /// `IPVS_CMD_*` commands.
    public enum Command: UInt8, Sendable, CaseIterable {
        case newService, setService, delService, getService
        case newDest, setDest, delDest, getDest
        case newDaemon, delDaemon, getDaemon
        case setConfig, getConfig, setInfo, getInfo, zero, flush

        /// The numeric command.
        public var value: UInt8 {
            switch self {
            case .newService: return UInt8(IPVS_CMD_NEW_SERVICE)
            case .setService: return UInt8(IPVS_CMD_SET_SERVICE)
            case .delService: return UInt8(IPVS_CMD_DEL_SERVICE)
            case .getService: return UInt8(IPVS_CMD_GET_SERVICE)
            case .newDest: return UInt8(IPVS_CMD_NEW_DEST)
            case .setDest: return UInt8(IPVS_CMD_SET_DEST)
            case .delDest: return UInt8(IPVS_CMD_DEL_DEST)
            case .getDest: return UInt8(IPVS_CMD_GET_DEST)
            case .newDaemon: return UInt8(IPVS_CMD_NEW_DAEMON)
            case .delDaemon: return UInt8(IPVS_CMD_DEL_DAEMON)
            case .getDaemon: return UInt8(IPVS_CMD_GET_DAEMON)
            case .setConfig: return UInt8(IPVS_CMD_SET_CONFIG)
            case .getConfig: return UInt8(IPVS_CMD_GET_CONFIG)
            case .setInfo: return UInt8(IPVS_CMD_SET_INFO)
            case .getInfo: return UInt8(IPVS_CMD_GET_INFO)
            case .zero: return UInt8(IPVS_CMD_ZERO)
            case .flush: return UInt8(IPVS_CMD_FLUSH)
            }
        }

        /// The C name, for error messages: `IPVS_CMD_NEW_SERVICE`.
        public var cName: String {
            switch self {
            case .newService: return "IPVS_CMD_NEW_SERVICE"
            case .setService: return "IPVS_CMD_SET_SERVICE"
            case .delService: return "IPVS_CMD_DEL_SERVICE"
            case .getService: return "IPVS_CMD_GET_SERVICE"
            case .newDest: return "IPVS_CMD_NEW_DEST"
            case .setDest: return "IPVS_CMD_SET_DEST"
            case .delDest: return "IPVS_CMD_DEL_DEST"
            case .getDest: return "IPVS_CMD_GET_DEST"
            case .newDaemon: return "IPVS_CMD_NEW_DAEMON"
            case .delDaemon: return "IPVS_CMD_DEL_DAEMON"
            case .getDaemon: return "IPVS_CMD_GET_DAEMON"
            case .setConfig: return "IPVS_CMD_SET_CONFIG"
            case .getConfig: return "IPVS_CMD_GET_CONFIG"
            case .setInfo: return "IPVS_CMD_SET_INFO"
            case .getInfo: return "IPVS_CMD_GET_INFO"
            case .zero: return "IPVS_CMD_ZERO"
            case .flush: return "IPVS_CMD_FLUSH"
            }
        }
    }

    /// `IPVS_CMD_ATTR_*`: first-level attributes.
    public enum CmdAttr {
        public static let service = UInt16(IPVS_CMD_ATTR_SERVICE)
        public static let dest = UInt16(IPVS_CMD_ATTR_DEST)
        public static let daemon = UInt16(IPVS_CMD_ATTR_DAEMON)
        public static let timeoutTCP = UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP)
        public static let timeoutTCPFin = UInt16(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN)
        public static let timeoutUDP = UInt16(IPVS_CMD_ATTR_TIMEOUT_UDP)
        public static let max = UInt16(tandem_IPVS_CMD_ATTR_MAX)
    }

    /// `IPVS_SVC_ATTR_*`: inside `IPVS_CMD_ATTR_SERVICE`.
    public enum ServiceAttr {
        public static let af = UInt16(IPVS_SVC_ATTR_AF)
        public static let `protocol` = UInt16(IPVS_SVC_ATTR_PROTOCOL)
        public static let addr = UInt16(IPVS_SVC_ATTR_ADDR)
        public static let port = UInt16(IPVS_SVC_ATTR_PORT)
        public static let fwmark = UInt16(IPVS_SVC_ATTR_FWMARK)
        public static let schedName = UInt16(IPVS_SVC_ATTR_SCHED_NAME)
        public static let flags = UInt16(IPVS_SVC_ATTR_FLAGS)
        public static let timeout = UInt16(IPVS_SVC_ATTR_TIMEOUT)
        public static let netmask = UInt16(IPVS_SVC_ATTR_NETMASK)
        public static let stats = UInt16(IPVS_SVC_ATTR_STATS)
        public static let peName = UInt16(IPVS_SVC_ATTR_PE_NAME)
        public static let stats64 = UInt16(IPVS_SVC_ATTR_STATS64)
        public static let max = UInt16(tandem_IPVS_SVC_ATTR_MAX)
    }

    /// `IPVS_DEST_ATTR_*`: inside `IPVS_CMD_ATTR_DEST`.
    public enum DestAttr {
        public static let addr = UInt16(IPVS_DEST_ATTR_ADDR)
        public static let port = UInt16(IPVS_DEST_ATTR_PORT)
        public static let fwdMethod = UInt16(IPVS_DEST_ATTR_FWD_METHOD)
        public static let weight = UInt16(IPVS_DEST_ATTR_WEIGHT)
        public static let uThresh = UInt16(IPVS_DEST_ATTR_U_THRESH)
        public static let lThresh = UInt16(IPVS_DEST_ATTR_L_THRESH)
        public static let activeConns = UInt16(IPVS_DEST_ATTR_ACTIVE_CONNS)
        public static let inactConns = UInt16(IPVS_DEST_ATTR_INACT_CONNS)
        public static let persistConns = UInt16(IPVS_DEST_ATTR_PERSIST_CONNS)
        public static let stats = UInt16(IPVS_DEST_ATTR_STATS)
        public static let addrFamily = UInt16(IPVS_DEST_ATTR_ADDR_FAMILY)
        public static let stats64 = UInt16(IPVS_DEST_ATTR_STATS64)
        public static let tunType = UInt16(IPVS_DEST_ATTR_TUN_TYPE)
        public static let tunPort = UInt16(IPVS_DEST_ATTR_TUN_PORT)
        public static let tunFlags = UInt16(IPVS_DEST_ATTR_TUN_FLAGS)
        public static let max = UInt16(tandem_IPVS_DEST_ATTR_MAX)
    }

    /// `IPVS_DAEMON_ATTR_*`: inside `IPVS_CMD_ATTR_DAEMON`.
    public enum DaemonAttr {
        public static let state = UInt16(IPVS_DAEMON_ATTR_STATE)
        public static let mcastIfn = UInt16(IPVS_DAEMON_ATTR_MCAST_IFN)
        public static let syncID = UInt16(IPVS_DAEMON_ATTR_SYNC_ID)
        public static let syncMaxLen = UInt16(IPVS_DAEMON_ATTR_SYNC_MAXLEN)
        public static let mcastGroup = UInt16(IPVS_DAEMON_ATTR_MCAST_GROUP)
        public static let mcastGroup6 = UInt16(IPVS_DAEMON_ATTR_MCAST_GROUP6)
        public static let mcastPort = UInt16(IPVS_DAEMON_ATTR_MCAST_PORT)
        public static let mcastTTL = UInt16(IPVS_DAEMON_ATTR_MCAST_TTL)
    }

    /// `IPVS_STATS_ATTR_*`: inside the stats nests.
    public enum StatsAttr {
        public static let conns = UInt16(IPVS_STATS_ATTR_CONNS)
        public static let inPkts = UInt16(IPVS_STATS_ATTR_INPKTS)
        public static let outPkts = UInt16(IPVS_STATS_ATTR_OUTPKTS)
        public static let inBytes = UInt16(IPVS_STATS_ATTR_INBYTES)
        public static let outBytes = UInt16(IPVS_STATS_ATTR_OUTBYTES)
        public static let cps = UInt16(IPVS_STATS_ATTR_CPS)
        public static let inPPS = UInt16(IPVS_STATS_ATTR_INPPS)
        public static let outPPS = UInt16(IPVS_STATS_ATTR_OUTPPS)
        public static let inBPS = UInt16(IPVS_STATS_ATTR_INBPS)
        public static let outBPS = UInt16(IPVS_STATS_ATTR_OUTBPS)
    }

    /// `IPVS_INFO_ATTR_*`: top level of the `IPVS_CMD_GET_INFO` reply.
    public enum InfoAttr {
        public static let version = UInt16(IPVS_INFO_ATTR_VERSION)
        public static let connTabSize = UInt16(IPVS_INFO_ATTR_CONN_TAB_SIZE)
    }

    /// `IP_VS_SVC_F_*` service flag bits.
    public enum ServiceFlag {
        public static let persistent = UInt32(IP_VS_SVC_F_PERSISTENT)
        public static let hashed = UInt32(IP_VS_SVC_F_HASHED)
        public static let onePacket = UInt32(IP_VS_SVC_F_ONEPACKET)
        public static let sched1 = UInt32(IP_VS_SVC_F_SCHED1)
        public static let sched2 = UInt32(IP_VS_SVC_F_SCHED2)
        public static let sched3 = UInt32(IP_VS_SVC_F_SCHED3)
    }

    /// `IP_VS_CONN_F_*` forwarding methods.
    public enum Forward {
        public static let mask = UInt32(IP_VS_CONN_F_FWD_MASK)
        public static let masq = UInt32(IP_VS_CONN_F_MASQ)
        public static let localNode = UInt32(IP_VS_CONN_F_LOCALNODE)
        public static let tunnel = UInt32(IP_VS_CONN_F_TUNNEL)
        public static let droute = UInt32(IP_VS_CONN_F_DROUTE)
        public static let bypass = UInt32(IP_VS_CONN_F_BYPASS)
    }

    /// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    public enum TunnelType {
        public static let ipip = UInt8(IP_VS_CONN_F_TUNNEL_TYPE_IPIP)
        public static let gue = UInt8(IP_VS_CONN_F_TUNNEL_TYPE_GUE)
        public static let gre = UInt8(IP_VS_CONN_F_TUNNEL_TYPE_GRE)
    }

    /// `IP_VS_STATE_*` sync daemon states.
    public enum DaemonState {
        public static let master = UInt32(IP_VS_STATE_MASTER)
        public static let backup = UInt32(IP_VS_STATE_BACKUP)
    }

    /// `AF_INET`, `AF_INET6` as the 16-bit values IPVS attributes carry.
    public static let afInet = UInt16(AF_INET)
    /// See ``afInet``.
    public static let afInet6 = UInt16(AF_INET6)
    /// `IPPROTO_TCP`, `IPPROTO_UDP`, `IPPROTO_SCTP` as 16-bit attribute values.
    public static let protoTCP = UInt16(IPPROTO_TCP)
    /// See ``protoTCP``.
    public static let protoUDP = UInt16(IPPROTO_UDP)
    /// See ``protoTCP``.
    public static let protoSCTP = UInt16(IPPROTO_SCTP)
}
