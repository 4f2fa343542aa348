import Net

/// Why an address cannot serve a given use, in words a user can act on.
struct AddressProblem: Equatable {
    /// What the address is (`a loopback address`), completing "VIP 127.0.0.1 is …".
    var what: String
    /// Why that cannot work here and what to use instead.
    var hint: String
}

extension AddressUse {
    /// `VIP` or `witness`, to start a message.
    var label: String {
        switch self {
        case .any: return "address"
        case .vip: return "VIP"
        case .witness: return "witness"
        }
    }

    /// The reason `address` cannot work for this use, or `nil` if it can.
    ///
    /// A VIP must be a unicast address clients can route to: the kernel never delivers a packet
    /// for the unspecified, broadcast or a multicast address to an IPVS service as a client
    /// connection, and a loopback VIP is reachable from the director alone. The VRRP group
    /// (224.0.0.18, ff02::12; RFC 5798 §5.1.1.2, §5.1.2.2) is where the directors' adverts go.
    /// A witness must be another machine on the network: a loopback witness always answers, so
    /// the split-brain rule could never see the network fail.
    func problem(with address: IPAddress) -> AddressProblem? {
        guard self != .any else { return nil }
        let b = address.bytes
        let useHint = self == .vip
            ? "pick a unicast address on a network the clients route to the directors"
            : "use a third machine's unicast address both directors reach (a router or a host)"
        if b.allSatisfy({ $0 == 0 }) {
            return .init(what: "the unspecified address", hint: "it names no machine; \(useHint)")
        }
        switch address.family {
        case .v4:
            if b == [224, 0, 0, 18] {
                return .init(what: "the VRRP multicast group (RFC 5798 §5.1.1.2)", hint: "the directors' adverts are sent there; \(useHint)")
            }
            if b == [255, 255, 255, 255] { return .init(what: "the limited broadcast address", hint: useHint) }
            switch b[0] {
            case 0: return .init(what: "in 0.0.0.0/8 (\"this network\", RFC 1122)", hint: "no host can be reached there; \(useHint)")
            case 127: return .init(what: "a loopback address", hint: "only the machine itself can reach it; \(useHint)")
            case 224...239: return .init(what: "a multicast address", hint: useHint)
            case 240...255: return .init(what: "in the reserved block 240.0.0.0/4", hint: "Linux does not route it; \(useHint)")
            default: return nil
            }
        case .v6:
            if b == [UInt8](repeating: 0, count: 15) + [1] {
                return .init(what: "the loopback address", hint: "only the machine itself can reach it; \(useHint)")
            }
            if b[0] == 0xff {
                let vrrp = b == [0xff, 0x02] + [UInt8](repeating: 0, count: 13) + [0x12]
                return .init(what: vrrp ? "the VRRP multicast group (RFC 5798 §5.1.2.2)" : "a multicast address",
                             hint: vrrp ? "the directors' adverts are sent there; \(useHint)" : useHint)
            }
            if b.prefix(10).allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
                return .init(what: "an IPv4-mapped IPv6 address", hint: "write the IPv4 address \(b[12]).\(b[13]).\(b[14]).\(b[15]) itself")
            }
            return nil
        }
    }
}
