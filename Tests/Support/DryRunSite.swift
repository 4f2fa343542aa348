/// A small site for running the built tandemd with `--dry-run-kernel` on loopback: member `a`
/// (127.0.0.1:`upPort`, where something listens: tandemd's own API port) and member `b`
/// (127.0.0.2:`downPort`, where nothing does), TCP checks every 200 ms; `extra` is appended as
/// top-level lines (a `daemon:` section, a director pair).
public enum DryRunSite {
    /// The topology text.
    public static func yaml(upPort: Int, downPort: Int, extra: String = "") -> String {
        """
        site: ctl
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
          - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
        vms:
          - {name: a, role: gums, vcpus: 1, memory: 1GiB, addresses: [127.0.0.1/8]}
          - {name: b, role: gums, vcpus: 1, memory: 1GiB, addresses: [127.0.0.2/8]}
        services:
          - name: gums
            vip: 10.99.0.1
            port: 80
            members:
              - {vm: a, port: \(upPort), weight: 100}
              - {vm: b, port: \(downPort), weight: 100}
            check: {kind: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}
        \(extra)
        """
    }
}
