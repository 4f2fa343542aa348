/// The type of one value in a topology file.
///
/// The loader reads every keyed value through the type its ``KeySpec`` declares (ranges, units,
/// list lengths and defaults included), and a schema exporter can walk the same tables, so the
/// file format has one source of truth: ``TopologySchema``.
public indirect enum ValueType: Sendable, Equatable {
    /// Non-empty free text.
    case string
    /// A name: ASCII letters, digits, `-`, `_` and `.`; what logs, metrics and CLI arguments show.
    case name
    /// A whole number, written without quotes, within the range.
    case integer(ClosedRange<Int>)
    /// A TCP or UDP port, 1–65535 (a fwmark service's members may give 0: "the client's port").
    case port
    /// A duration in milliseconds within the range, written `250ms`, `1.5s`, `2m` or as bare seconds.
    case duration(ClosedRange<Int>)
    /// A memory size in MiB within the range, written `512MiB`, `4GiB`, `1TiB` or as bare MiB.
    case memory(ClosedRange<Int>)
    /// An IP address (IPv4 or IPv6) fit for the given use.
    case address(AddressUse)
    /// An interface address with an optional `/prefix`.
    case interfaceAddress
    /// A Linux network interface name (the kernel's `dev_valid_name` rules).
    case interfaceName
    /// An HTTP request path: text starting with `/`.
    case urlPath
    /// A file's absolute path: tandemd runs with `/` as its directory under systemd, so a relative
    /// path would name another file there than where `tandemctl validate` ran.
    case absolutePath
    /// A program to run: a name looked up on `PATH` (`fence_ipmilan`) or an absolute path.
    case program
    /// A libvirt connection URI, `driver[+transport]://[user@][host]/[path][?query]`.
    case libvirtURI
    /// An IPv4 netmask (`255.255.255.0` or `/24`) or an IPv6 prefix length.
    case netmask
    /// One word out of a closed set.
    case choice([String])
    /// A list whose length lies in `count`.
    case list(ValueType, count: ClosedRange<Int>)
    /// A mapping with a fixed set of keys.
    case mapping(MappingSpec)
    /// A mapping from free keys (label names, VM names) to values of one type.
    case dictionary(ValueType)
    /// Any one of several shapes (the `directors` section: one pair, or a list of pairs).
    case oneOf([ValueType])

    /// A list of at least one element: an empty list is refused, never read as "nothing".
    public static func nonEmptyList(_ element: ValueType) -> ValueType { .list(element, count: 1...Int.max) }
    /// A list that may be empty (an empty list means the documented default).
    public static func anyList(_ element: ValueType) -> ValueType { .list(element, count: 0...Int.max) }
}

/// What an address is for, which decides which addresses can work there.
public enum AddressUse: String, Sendable, Equatable, CaseIterable {
    /// Any syntactically valid address (machine addresses, sorry servers, member overrides).
    case any
    /// A virtual service address: unicast, not loopback, not unspecified, not the VRRP group.
    case vip
    /// The split-brain witness: a unicast address both directors reach over the network.
    case witness
}

/// One key of a mapping: its name, value type, whether it is required, its default and meaning.
public struct KeySpec: Sendable, Equatable {
    /// The key as written in the file.
    public var name: String
    /// The type its value must have.
    public var type: ValueType
    /// A missing required key is an error; a missing optional key takes ``defaultValue``.
    public var required: Bool
    /// The value an absent optional key stands for, written as in the file (`1s`, `wlc`); the
    /// loader reads it with the same reader as a written value.
    public var defaultValue: String?
    /// What the key means, for documentation and the exported schema.
    public var doc: String
    /// A sample `key: value` line, shown in the hint of a missing-key error.
    public var example: String?

    /// Declares one key; `doc` comes last so a table reads key, type, flags, meaning.
    public init(_ name: String, _ type: ValueType, required: Bool = false, default defaultValue: String? = nil,
                example: String? = nil, _ doc: String) {
        self.name = name; self.type = type; self.required = required; self.defaultValue = defaultValue
        self.doc = doc; self.example = example
    }
}

/// A rule between keys of one mapping, which no single key's type can say: "`vm` or `address`",
/// "`fwmark` exactly with `protocol: fwmark`". The loader enforces the rules of every mapping it
/// reads (``YAMLReader/fields(_:_:_:)``) and the JSON Schema states the same rules, so the two
/// cannot drift apart.
public enum KeyRule: Sendable, Equatable {
    /// At least one of the keys must be written; `hint` says how to choose.
    case anyOf([String], hint: String)
    /// `key` may not be written together with `other`; `why` says why, `hint` what to do.
    case excludes(String, other: String, why: String, hint: String)
    /// `key` is required when `selector` reads `value` (an absent selector reads its default),
    /// and refused otherwise: it would be ignored without a word.
    case exactlyWhen(String, selector: String, equals: String)
    /// `key` is required unless `selector` reads `value`.
    case requiredUnless(String, selector: String, equals: String, hint: String)
}

/// The keys a mapping may hold. A mapping with ``variants`` allows, besides its own keys, the keys
/// of the variant its discriminator key selects (a check's `kind`).
public struct MappingSpec: Sendable, Equatable {
    /// A short name for the mapping (`host`, `service`), used as the schema definition's name.
    public var name: String
    /// What the mapping describes.
    public var doc: String
    /// The keys every instance may hold.
    public var keys: [KeySpec]
    /// Keys that depend on the value of one discriminator key.
    public var variants: Variants?
    /// Rules between keys, checked after each key was read on its own.
    public var rules: [KeyRule]

    /// Per-value extra keys of a discriminated mapping.
    public struct Variants: Sendable, Equatable {
        /// The discriminator key; it must also be one of ``MappingSpec/keys``.
        public var key: String
        /// For each discriminator value, the extra keys it allows.
        public var cases: [Variant]
        /// The variants selected by the value of `key`.
        public init(key: String, cases: [Variant]) { self.key = key; self.cases = cases }
    }

    /// The extra keys one discriminator value allows.
    public struct Variant: Sendable, Equatable {
        /// The discriminator's value (`exec`).
        public var value: String
        /// The keys that value allows besides the mapping's own.
        public var keys: [KeySpec]
        /// The extra `keys` allowed when the discriminator reads `value`.
        public init(_ value: String, _ keys: [KeySpec]) { self.value = value; self.keys = keys }
    }

    /// Declares one kind of mapping.
    public init(_ name: String, doc: String, keys: [KeySpec], variants: Variants? = nil, rules: [KeyRule] = []) {
        self.name = name; self.doc = doc; self.keys = keys; self.variants = variants; self.rules = rules
    }

    /// The keys an instance may hold when its discriminator reads `selector` (all variants' keys
    /// when it is absent or unknown), each once, in declaration order.
    public func allowedKeys(selector: String?) -> [KeySpec] {
        guard let variants else { return keys }
        let extra = variants.cases.first { $0.value == selector }.map { [$0] } ?? variants.cases
        var seen = Set(keys.map(\.name))
        return keys + extra.flatMap(\.keys).filter { seen.insert($0.name).inserted }
    }

    /// The spec of `key`, searching the variants too.
    public func key(_ name: String) -> KeySpec? {
        keys.first { $0.name == name } ?? variants?.cases.lazy.flatMap(\.keys).first { $0.name == name }
    }
}

/// The topology file format as tables: one ``MappingSpec`` per kind of mapping. The loader reads
/// through them; docs/topology.md describes the same keys.
public enum TopologySchema {
    /// Check kinds, in the order messages list them.
    public static let checkKinds = ["tcp", "http", "https", "exec", "mariadb"]

    /// The whole file.
    public static let root = MappingSpec("topology", doc: "A whole site: hosts, VMs, machines, services, director pairs and the database ring.", keys: [
        KeySpec("site", .name, required: true, "Site name, used in logs and reports."),
        KeySpec("placement", .mapping(placement), "Placement options for the whole site."),
        KeySpec("hosts", .nonEmptyList(.mapping(host)), example: "hosts: [{name: h1, address: 192.0.2.1, cpus: 8, memory: 16GiB}]",
                "The Xen hosts (dom0); leave it out on a site without a hypervisor inventory."),
        KeySpec("vms", .nonEmptyList(.mapping(vm)), example: "vms: [{name: vm1, role: other, vcpus: 1, memory: 1GiB, addresses: [10.0.0.1/24]}]",
                "The guest VMs (domU), placed on the hosts; they need hosts."),
        KeySpec("machines", .nonEmptyList(.mapping(machine)), example: "machines: [{name: lb1, addresses: [192.0.2.11/24]}]",
                "Plain machines outside the hypervisor inventory (bare-metal directors, database nodes): never placed."),
        KeySpec("services", .anyList(.mapping(service)), "The load-balanced virtual services."),
        KeySpec("directors", .oneOf([.mapping(directors), .nonEmptyList(.mapping(directors))]),
                "One director pair (a mapping) or several (a list)."),
        KeySpec("database", .mapping(database), "The MariaDB replication ring."),
        KeySpec("anti_affinity", .anyList(.mapping(antiAffinityGroup)), "Extra groups of VMs that must not share a host."),
        KeySpec("daemon", .mapping(daemon), "How tandemd runs: its API token, the repair sweep."),
        KeySpec("domain_templates", .dictionary(.absolutePath), default: "{}", example: "domain_templates: {web: /etc/tandem/domains/web.xml}",
                "Domain XML templates by name: name → absolute path of a libvirt domain XML file with {{key}} placeholders (vms[].domain.template names one)."),
    ])

    /// `daemon`.
    public static let daemon = MappingSpec("daemon", doc: "How tandemd runs on this site.", keys: [
        KeySpec("token_file", .absolutePath, example: "token_file: /etc/tandem/secrets/api-token",
                "Absolute path of the bearer token (mode 0600, at least 16 bytes) that POST /drain and /undrain need; absent: drain is disabled."),
        KeySpec("repair_interval", .duration(1000...3_600_000), default: "5s",
                "How soon a new sweep that repairs changes made behind tandemd's back may start after the last one began."),
    ])

    /// `placement`.
    public static let placement = MappingSpec("placement", doc: "Site-wide placement options.", keys: [
        KeySpec("spread", .anyList(.name), default: "[]",
                "Host label keys (rack, power) whose values must also differ within every anti-affinity group."),
    ])

    /// An entry of `hosts`.
    public static let host = MappingSpec("host", doc: "A physical Xen host (dom0).", keys: [
        KeySpec("name", .name, required: true, "Unique host name."),
        KeySpec("address", .address(.any), required: true, example: "address: 192.0.2.1", "dom0 management address."),
        KeySpec("cpus", .integer(1...4096), required: true, example: "cpus: 8", "Physical CPUs available to guests."),
        KeySpec("memory", .memory(1...Int(Int32.max - 1)), required: true, example: "memory: 64GiB", "Memory available to guests."),
        KeySpec("labels", .dictionary(.string), default: "{}", "Failure-domain labels, for example {rack: r1, power: feed-a}."),
        KeySpec("libvirt", .libvirtURI, example: "libvirt: xen+ssh://root@192.0.2.1/system",
                "libvirt URI of this host's hypervisor (xen:///, qemu+ssh://…, lxc:///): how `tandemctl hosts status` reaches it; absent: Tandem does not look at this host."),
        KeySpec("fence", .mapping(fence), example: "fence: {agent: fence_ipmilan, options: {ip: 192.0.2.101, username: admin, lanplus: 1}, secret_files: {password: /etc/tandem/secrets/fence-h1}}",
                "How Tandem powers this host off when it is lost: a fence agent and its options; absent: an operator confirms the host is off (`tandemctl hosts confirm-off`)."),
    ])

    /// Option names of the standard fence agents that carry a secret (ClusterLabs fence-agents
    /// `doc/FenceAgentAPI.md`, `fencing.py`: `passwd`, `passwd_script`, `snmp_priv_passwd`…, with
    /// `password` as their long-option alias). A topology file is world-readable in practice, so such
    /// a value belongs in `secret_files`, read from a 0600 file at every run.
    public static func fenceOptionIsSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("passwd") || k.contains("password") || k.contains("secret") || k == "token" || k.hasSuffix("_token")
    }

    /// `hosts[].fence`.
    public static let fence = MappingSpec("fence", doc: "A host's fence device: a fence agent speaking the standard fence-agent protocol.", keys: [
        KeySpec("agent", .program, required: true, example: "agent: fence_ipmilan",
                "The fence agent: a program name found on PATH (fence_ipmilan, fence_redfish, fence_xenapi…) or an absolute path."),
        KeySpec("options", .dictionary(.string), default: "{}", example: "options: {ip: 192.0.2.101, username: admin, lanplus: 1}",
                "Options sent to the agent as key=value lines on its stdin, values as written; they appear in logs, so never a secret. `action` is Tandem's to set."),
        KeySpec("secret_files", .dictionary(.absolutePath), default: "{}", example: "secret_files: {password: /etc/tandem/secrets/fence-h1}",
                "Secret options: option name → absolute path of a file only its owner may read (mode 0600), read at every run."),
        KeySpec("timeout", .duration(1...3_600_000), default: "30s", "Bound on one run of the agent; past it the run counts as failed."),
        KeySpec("attempts", .integer(1...10), default: "3", "How many times `off` is tried before the host waits for an operator."),
    ])

    /// `vms[].domain`.
    public static let vmDomain = MappingSpec("domain", doc: "How a VM's libvirt domain is made: a named template or an XML file of its own.", keys: [
        KeySpec("template", .name, example: "template: web", "A template named under domain_templates; {{name}}, {{vcpus}}, {{memory_mib}}, {{memory_kib}}, {{address}}, {{prefix}}, {{mac}} and the keys of `values` are filled in."),
        KeySpec("xml_file", .absolutePath, example: "xml_file: /etc/tandem/domains/vm1.xml", "Absolute path of a complete domain XML file, used as written; its <name> must be the VM's name."),
        KeySpec("values", .dictionary(.string), default: "{}", example: "values: {port: 8443}", "Extra placeholder values for the template."),
    ], rules: [
        .anyOf(["template", "xml_file"], hint: "add `template: NAME` (one of domain_templates) or `xml_file: /path/of/domain.xml`"),
        .excludes("template", other: "xml_file", why: "a domain comes from one source",
                  hint: "keep `template:` (filled in per VM) or `xml_file:` (used as written), not both"),
        .excludes("values", other: "xml_file", why: "an xml_file is used as written, so its values would be ignored",
                  hint: "write the values into the XML file, or use a template"),
    ])

    /// An entry of `vms`.
    public static let vm = MappingSpec("vm", doc: "A guest VM (domU).", keys: [
        KeySpec("name", .name, required: true, "Unique VM name."),
        KeySpec("role", .choice(VMRole.allCases.map(\.rawValue)), required: true, example: "role: other", "What the VM is for."),
        KeySpec("vcpus", .integer(1...512), required: true, example: "vcpus: 1", "Virtual CPUs."),
        KeySpec("memory", .memory(1...Int(Int32.max - 1)), required: true, example: "memory: 1GiB", "Memory."),
        KeySpec("addresses", .nonEmptyList(.interfaceAddress), required: true, example: "addresses: [10.0.0.1/24]",
                "Interface addresses, IPv4 and/or IPv6, with optional /prefix."),
        KeySpec("host", .name, "Pin the VM to this host."),
        KeySpec("domain", .mapping(vmDomain), example: "domain: {template: web, values: {port: 8443}}",
                "How its libvirt domain is made; absent: Tandem never defines it (an existing domain of its name is adopted)."),
    ])

    /// An entry of `machines`.
    public static let machine = MappingSpec("machine", doc: "A plain machine outside the hypervisor inventory (bare metal, or a VM Tandem does not place).", keys: [
        KeySpec("name", .name, required: true, "Unique name among VMs and machines."),
        KeySpec("addresses", .nonEmptyList(.interfaceAddress), required: true, example: "addresses: [192.0.2.11/24]",
                "Interface addresses, IPv4 and/or IPv6, with optional /prefix; the first is the VRRP source of a director."),
    ])

    /// An entry of `services`.
    public static let service = MappingSpec("service", doc: "A load-balanced virtual service: a VIP (or firewall mark) and its real servers.", keys: [
        KeySpec("name", .name, required: true, "Unique service name."),
        KeySpec("vip", .address(.vip), required: true, example: "vip: 10.0.9.1", "Virtual IP (IPv4 or IPv6); no machine may own it."),
        KeySpec("port", .port, example: "port: 8443", "Virtual port; required unless protocol is fwmark (0 there: the client's port)."),
        KeySpec("protocol", .choice(ServiceProtocol.allCases.map(\.rawValue)), default: "tcp", "Transport, or fwmark for a firewall-mark service."),
        KeySpec("fwmark", .integer(1...Int(UInt32.max)), example: "fwmark: 12", "The firewall mark; exactly with protocol: fwmark."),
        KeySpec("scheduler", .choice(Scheduler.allCases.map(\.rawValue)), default: "wlc", "IPVS scheduler."),
        KeySpec("scheduler_flags", .anyList(.choice(SchedulerFlag.allCases.map(\.rawValue))), default: "[]",
                "Scheduler flags: sh-fallback, sh-port (with sh), mh-fallback, mh-port (with mh)."),
        KeySpec("forwarding", .choice(ForwardingMethod.allCases.map(\.rawValue)), default: "nat",
                "How IPVS forwards packets; DR and TUN cannot change the port."),
        KeySpec("persistence", .mapping(persistence), "Client persistence."),
        KeySpec("members", .nonEmptyList(.mapping(member)), required: true, example: "members: [{vm: vm1, port: 8443}]",
                "The real servers: VMs of the inventory, or plain servers by address."),
        KeySpec("check", .mapping(check), required: true, example: "check: {kind: tcp}", "How to check each member."),
        KeySpec("last_member", .choice(["keep", "sorry"]), default: "keep",
                "When every member fails: keep the last ones, or send clients to sorry_server."),
        KeySpec("sorry_server", .mapping(sorryServer), example: "sorry_server: {address: 10.0.9.99, port: 80}",
                "Where clients go with last_member: sorry."),
        KeySpec("passive", .mapping(passive), "Passive silence detection (NAT TCP services only); absent means off."),
    ], rules: [
        .requiredUnless("port", selector: "protocol", equals: "fwmark", hint: "add `port:` (only fwmark services go without)"),
        .exactlyWhen("fwmark", selector: "protocol", equals: "fwmark"),
        .exactlyWhen("sorry_server", selector: "last_member", equals: "sorry"),
    ])

    /// An entry of a service's `members`.
    public static let member = MappingSpec("member", doc: "One real server of a service: a VM of the inventory, or a plain server by address.", keys: [
        KeySpec("vm", .name, example: "vm: vm1", "The VM that runs it; leave it out for a plain real server (give address)."),
        KeySpec("name", .name, "A plain real server's name in logs, drains and status; default address:port. A VM member is named by its VM."),
        KeySpec("address", .address(.any), example: "address: 192.0.2.21",
                "Real-server address: required for a plain real server; a VM member defaults to the VM's first address of the VIP's family."),
        KeySpec("port", .port, "Port the real server listens on; defaults to the service's port (0 for fwmark: the client's port)."),
        KeySpec("weight", .integer(0...65535), default: "1", "IPVS weight when healthy."),
    ], rules: [
        .anyOf(["vm", "address"], hint: "add `vm: NAME` for a VM of the inventory, or `address: 192.0.2.21` for a plain real server"),
        .excludes("name", other: "vm", why: "a VM member is named by its VM",
                  hint: "remove `name:`, or remove `vm:` to describe a plain real server by its address"),
    ])

    /// A service's `persistence`.
    public static let persistence = MappingSpec("persistence", doc: "Client persistence (ipvsadm -p / -M).", keys: [
        KeySpec("timeout", .duration(1000...31_536_000_000), required: true, example: "timeout: 300s",
                "How long a client sticks to one real server."),
        KeySpec("netmask", .netmask, "Client mask: IPv4 as 255.255.255.0 or /24, IPv6 as a prefix length; default: one client per address."),
    ])

    /// A service's `sorry_server`.
    public static let sorryServer = MappingSpec("sorry_server", doc: "The server that answers when every member has failed.", keys: [
        KeySpec("address", .address(.any), required: true, example: "address: 10.0.9.99", "Its address."),
        KeySpec("port", .port, required: true, example: "port: 80", "Its port."),
    ])

    /// A service's `passive`.
    public static let passive = MappingSpec("passive", doc: "Passive silence detection from the director's connection table.", keys: [
        KeySpec("window", .duration(PassiveDetection.minWindowMs...PassiveDetection.maxWindowMs), default: "300ms",
                "How long a new connection may wait for the member's SYN-ACK."),
        KeySpec("min_connections", .integer(1...10_000), default: "3", "How many unanswered connections make the member silent."),
    ])

    private static let httpKeys = [
        KeySpec("method", .string, default: "GET", "HTTP method."),
        KeySpec("path", .urlPath, default: "/", "Request path, starting with /."),
        KeySpec("expect_status", .integer(100...599), default: "200", "The status a healthy member answers."),
        KeySpec("body_contains", .string, "Healthy only if the body contains this text."),
        KeySpec("body_sha256", .string, "Healthy only if the body's SHA-256 (hex) equals this."),
    ]

    /// A service's `check`; the keys besides the common ones depend on `kind`.
    public static let check = MappingSpec("check", doc: "How to check one member, with the timing every kind shares.", keys: [
        KeySpec("kind", .choice(checkKinds), required: true, example: "kind: tcp", "What each check does."),
        KeySpec("interval", .duration(10...3_600_000), default: "1s", "Time between checks."),
        KeySpec("timeout", .duration(1...3_600_000), default: "1s", "A silent check fails after this long."),
        KeySpec("rise", .integer(1...100), default: "2", "Consecutive successes that bring a failed member back."),
        KeySpec("fall", .integer(1...100), default: "2", "Consecutive failures that drain a healthy member."),
    ], variants: .init(key: "kind", cases: [
        .init("tcp", []),
        .init("http", httpKeys),
        .init("https", httpKeys),
        .init("exec", [KeySpec("command", .nonEmptyList(.string), required: true, example: "command: [/path/to/check, arg]",
                               "argv of the check; exit status 0 is healthy.")]),
        .init("mariadb", [
            KeySpec("user", .string, required: true, example: "user: monitor", "Monitor account for the replication-aware check."),
            KeySpec("password_file", .string, "File holding the monitor account's password (mode 0600)."),
        ]),
    ]))

    /// `directors`, or one entry of it when it is a list.
    public static let directors = MappingSpec("directors", doc: "An active/standby LVS director pair and its VRRP parameters.", keys: [
        KeySpec("name", .name, default: "directors", "Pair name, unique in the site."),
        KeySpec("members", .list(.name, count: 2...2), required: true, example: "members: [d1, d2]", "The two directors: VMs or machines."),
        KeySpec("vrid", .integer(1...255), required: true, example: "vrid: 51", "VRRP virtual router id, unique per interface."),
        KeySpec("priorities", .dictionary(.integer(1...254)), default: "{}",
                "VRRP priority per member; 255 is reserved for the address owner (RFC 5798 §5.2.4)."),
        KeySpec("advert_interval", .duration(10...40_950), default: "1s", "VRRP advertisement interval (VRRPv3 carries centiseconds, RFC 5798 §5.2.7)."),
        KeySpec("interface", .interfaceName, required: true, example: "interface: eth0", "Interface the heartbeat runs on."),
        KeySpec("services", .nonEmptyList(.name), example: "services: [gums, voms]", "Services whose VIPs this pair holds; omit the key for every service."),
        KeySpec("witness", .address(.witness), "A third address both directors can reach; the split-brain rule consults it."),
        KeySpec("fence_command", .nonEmptyList(.string), example: "fence_command: [xl, destroy, \"{peer}\"]",
                "argv that fences the peer; {peer} is replaced by its name."),
    ] + directorDefaults + [
        KeySpec("nodes", .dictionary(.mapping(directorNode)), default: "{}", example: "nodes: {d1: {primary_address: 10.98.0.1}}",
                "Per-director settings, by member name; a key set here wins over the same key on the pair."),
    ])

    /// Boolean values, as YAML 1.2 writes them.
    public static let booleans = ["true", "false"]

    /// Director settings that may be set for the whole pair and again, winning, for one member
    /// (`directors.nodes.NAME`). No defaults in the table: an absent key means "ask the pair", and
    /// the documented default applies only when neither sets it (VRRPTransport's `DirectorSetup`).
    public static let directorDefaults: [KeySpec] = [
        KeySpec("vip_interface", .interfaceName, "Interface for the VIPs when the heartbeat has its own link; default: the VRRP interface."),
        KeySpec("key_file", .absolutePath, example: "key_file: /etc/tandem/secrets/vrrp.key",
                "Absolute path of the shared key (mode 0600, at least 16 bytes) that authenticates adverts and probes; both directors need the same key."),
        KeySpec("preempt", .choice(booleans), "RFC 5798 Preempt_Mode: a higher-priority backup takes over from a live master; default true."),
        KeySpec("preempt_delay", .duration(0...3_600_000), "How long a backup waits before preempting; default 0s."),
        KeySpec("fast_detector", .mapping(fastDetector), "The sub-advert peer probe; absent means off."),
        KeySpec("connection_sync", .choice(booleans), "Run the IPVS connection-sync daemons (both directions); default true."),
        KeySpec("sync_interface", .interfaceName, "Interface of the connection-sync daemons; default: the VRRP interface."),
    ]

    /// One entry of `directors.nodes`: a member's own settings.
    public static let directorNode = MappingSpec("director_node", doc: "One director's own settings; each key wins over the pair's.", keys: [
        KeySpec("interface", .interfaceName, "Interface of this director's adverts; default: the pair's `interface`."),
        KeySpec("primary_address", .address(.any), example: "primary_address: 10.98.0.1",
                "Source of this director's adverts and the tie-breaker (RFC 5798 §6.4.3); default: its VM's first address. The peer's fast-detector probes go here."),
        KeySpec("unicast_peers", .nonEmptyList(.address(.any)), example: "unicast_peers: [10.98.0.2]",
                "Send adverts to these addresses instead of the VRRP multicast group."),
    ] + directorDefaults)

    /// `fast_detector`: the peer probe that notices a dead master before three adverts are missed.
    public static let fastDetector = MappingSpec("fast_detector", doc: "The fast detector: UDP probes to the peer between adverts.", keys: [
        KeySpec("interval", .duration(1...10_000), required: true, example: "interval: 20ms", "Time between probes."),
        KeySpec("misses", .integer(1...100), default: "3", "Missed probes in a row that declare the peer down."),
        KeySpec("priority", .integer(0...99), default: "10",
                "SCHED_FIFO priority of the probe thread and the VRRP loop (needs CAP_SYS_NICE); 0 = normal scheduling."),
    ])

    /// `database`.
    public static let database = MappingSpec("database", doc: "The MariaDB ring behind the services.", keys: [
        KeySpec("ring", .nonEmptyList(.name), required: true, example: "ring: [db1, db2]",
                "Member VMs or machines in replication order: each replicates from the one before it, the first from the last."),
        KeySpec("port", .port, default: "3306", "MariaDB port."),
    ])

    /// An entry of `anti_affinity`.
    public static let antiAffinityGroup = MappingSpec("anti_affinity", doc: "VMs that must not share a host (or failure domain).", keys: [
        KeySpec("name", .name, required: true, "Group name, unique."),
        KeySpec("members", .nonEmptyList(.name), required: true, example: "members: [vm1, vm2]", "The VMs of the group."),
    ])
}
