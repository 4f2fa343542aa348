/// Text rendering of the IPVS table in `ipvsadm -Ln` layout, with counters appended.
public enum IPVSTable {
    /// `ipvsadm -Ln` lines plus `Conns InPkts OutPkts InBytes OutBytes` per service and destination.
    public static func render(_ snapshot: [ServiceSnapshot], info: IPVSInfo) -> String {
        var out = "IP Virtual Server version \(info.version) (size=\(info.connectionTableSize))\n"
        out += "Prot LocalAddress:Port Scheduler Flags\n"
        out += "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn      Conns   InPkts  OutPkts  InBytes OutBytes\n"
        for s in snapshot {
            out += serviceLine(s.service) + "  " + counters(s.stats) + "\n"
            for d in s.destinations {
                let dd = d.destination
                out += "  -> " + pad(dd.key.description, 28) + " " + pad(dd.forwarding.ipvsadmName, 7) + " "
                    + pad("\(dd.weight)", 6) + " " + pad("\(d.activeConnections)", 10) + " " + pad("\(d.inactiveConnections)", 10)
                    + " " + counters(d.stats) + "\n"
            }
        }
        return out
    }

    /// `TCP  10.0.0.1:80 wlc persistent 300 mask 255.255.255.0`, as ipvsadm -Ln prints a service.
    public static func serviceLine(_ s: IPVSService) -> String {
        var line: String
        switch s.key {
        case .address(let p, let a, let port): line = pad(p.rawValue.uppercased(), 4) + " " + a.withPort(port) + " " + s.scheduler
        case .fwmark(let m, let f): line = "FWM  \(m)" + (f == .v6 ? " IPv6" : "") + " " + s.scheduler
        }
        var words: [String] = []
        if s.flags.contains(.schedFlag1) || s.flags.contains(.schedFlag2) || s.flags.contains(.schedFlag3) {
            let names: [String]
            switch s.scheduler {
            case "sh": names = ["sh-fallback", "sh-port", "flag-3"]
            case "mh": names = ["mh-fallback", "mh-port", "flag-3"]
            default: names = ["flag-1", "flag-2", "flag-3"]
            }
            var f: [String] = []
            if s.flags.contains(.schedFlag1) { f.append(names[0]) }
            if s.flags.contains(.schedFlag2) { f.append(names[1]) }
            if s.flags.contains(.schedFlag3) { f.append(names[2]) }
            words.append("(" + f.joined(separator: ",") + ")")
        }
        if let p = s.persistence {
            words.append("persistent \(p.timeout)")
            if p.netmask != Persistence.hostMask(s.key.family) { words.append("mask " + p.maskDescription(s.key.family)) }
        }
        if s.flags.contains(.onePacket) { words.append("ops") }
        return ([line] + words).joined(separator: " ")
    }

    static func counters(_ s: IPVSStats) -> String {
        [s.connections, s.inPackets, s.outPackets, s.inBytes, s.outBytes].map { lpad("\($0)", 8) }.joined(separator: " ")
    }
    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    static func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
}
