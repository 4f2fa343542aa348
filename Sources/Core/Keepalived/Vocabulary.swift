// What Tandem does instead of each keepalived keyword the import cannot map one to one. Every
// statement the import does not map gets one of these sentences, with its file and line: nothing
// of a keepalived.conf is dropped without a word.

enum KeepalivedVocabulary {
    static let email = "Tandem sends no e-mail: watch tandemd's /metrics (Prometheus) and its log"
    static let notify = "Tandem runs no notify scripts: tandemd logs every VRRP transition and member state change and counts them in /metrics"
    static let garp = "Tandem sends one gratuitous ARP (unsolicited NA for IPv6) on becoming master and repeats it once after 2 s"
    static let tracking = "Tandem's pair tracks no interface, script or file: a director that loses its link stops advertising and its peer takes over; real servers' health is the checks' job"
    static let quorum = "Tandem has no quorum: with last_member: keep the last members keep serving when all fail, with last_member: sorry the sorry_server takes over; rise/fall damp flapping"
    static let process = "a keepalived process setting with no Tandem equivalent"
    static let bind = "Tandem's checks connect from the director's own address to the member's address and port"

    /// Keyword → what Tandem does instead. Keywords the import maps are not here.
    static let instead: [String: String] = [
        // global_defs
        "notification_email": email, "notification_email_from": email, "smtp_server": email, "smtp_connect_timeout": email,
        "smtp_helo_name": email, "smtp_alert": email, "smtp_alert_vrrp": email, "smtp_alert_checker": email, "email_faults": email,
        "script_user": "Tandem runs exec checks as tandemd's own user",
        "enable_script_security": "Tandem runs exec checks as tandemd's own user; there is no script security switch",
        "vrrp_garp_master_delay": garp, "vrrp_garp_master_repeat": garp, "vrrp_garp_master_refresh": garp,
        "vrrp_garp_master_refresh_repeat": garp, "vrrp_garp_lower_prio_delay": garp, "vrrp_garp_lower_prio_repeat": garp,
        "vrrp_garp_interval": garp, "vrrp_gna_interval": garp, "vrrp_min_garp": garp,
        "vrrp_mcast_group4": "Tandem sends adverts to the RFC 5798 group 224.0.0.18 (ff02::12 for IPv6), or to the `unicast_peers` of `directors: nodes:`",
        "vrrp_mcast_group6": "Tandem sends adverts to the RFC 5798 group ff02::12 (224.0.0.18 for IPv4), or to the `unicast_peers` of `directors: nodes:`",
        "vrrp_strict": "Tandem speaks RFC 5798 VRRPv3 as written; there is no strict-mode switch",
        "vrrp_skip_check_adv_addr": "Tandem checks every advert it receives",
        "vrrp_iptables": "Tandem adds no firewall rules", "vrrp_ipsets": "Tandem adds no firewall rules",
        "net_namespace": "run tandemd inside the namespace: ip netns exec NAMESPACE tandemd …",
        "vrrp_priority": "tandemd's VRRP thread runs SCHED_FIFO with `fast_detector: {priority: N}` (directors); there is no nice setting",
        "checker_priority": process, "vrrp_no_swap": process, "checker_no_swap": process, "vrrp_rt_priority": process,
        "checker_rt_priority": process, "dynamic_interfaces": process, "max_auto_priority": process, "lvs_timeouts": process,
        "lvs_flush": "tandemd owns the services of its topology and leaves every other IPVS service alone",
        // vrrp_instance
        "state": "Tandem elects the master by priority (RFC 5798 §6.4); keepalived's state is only where it starts",
        "authentication": "VRRPv3 (RFC 5798) has no authentication; tandemd signs adverts with HMAC-SHA256 from a key file: set `key_file: FILE` (mode 0600) in the topology's `directors:`",
        "nopreempt": "set `preempt: false` in the topology's `directors:`",
        "preempt_delay": "set `preempt_delay: DURATION` in the topology's `directors:`",
        "garp_master_delay": garp, "garp_master_repeat": garp, "garp_master_refresh": garp, "garp_master_refresh_repeat": garp,
        "garp_lower_prio_delay": garp, "garp_lower_prio_repeat": garp, "garp_extra_if": garp,
        "track_interface": tracking, "track_script": tracking, "track_file": tracking, "track_process": tracking, "track_bfd": tracking,
        "dont_track_primary": tracking,
        "notify": notify, "notify_master": notify, "notify_backup": notify, "notify_fault": notify, "notify_stop": notify,
        "notify_deleted": notify, "notify_master_rx_lower_pri": notify, "notify_up": notify, "notify_down": notify,
        "use_vmac": "Tandem keeps the interface's own MAC address; the VIPs move by gratuitous ARP",
        "vmac_xmit_base": "Tandem keeps the interface's own MAC address; the VIPs move by gratuitous ARP",
        "virtual_ipaddress_excluded": "Tandem's pair holds only its services' VIPs; configure other addresses with the system",
        "virtual_routes": "Tandem adds no routes: configure them with the system", "virtual_rules": "Tandem adds no rules: configure them with the system",
        "static_ipaddress": "configure static addresses with the system (ip, systemd-networkd); Tandem adds none",
        "static_routes": "configure static routes with the system; Tandem adds none",
        "static_rules": "configure static rules with the system; Tandem adds none",
        "vrrp_sync_group": "tandemd runs one VRRP instance per director: put the services of the grouped instances in one pair",
        "vrrp_script": tracking, "vrrp_track_file": tracking, "vrrp_track_process": tracking,
        "accept": "Tandem's VIPs accept traffic (the kernel's IPVS answers them)", "no_accept": "Tandem's VIPs always accept traffic (IPVS answers them)",
        "debug": "tandemd logs at --log-level", "skip_check_adv_addr": "Tandem checks every advert it receives",
        "strict_mode": "Tandem speaks RFC 5798 VRRPv3 as written",
        "kernel_rx_buf_size": process,
        // virtual_server
        "quorum": quorum, "hysteresis": quorum, "quorum_up": quorum, "quorum_down": quorum, "omega": quorum,
        "alpha": "Tandem starts a member up when the kernel already serves it at its weight, else unknown, and the first check decides (docs/health-checks.md, \"Initial state\")",
        "ha_suspend": "tandemd checks members and programs IPVS on both directors, master or backup, so a takeover finds a ready table",
        "virtualhost": "Tandem's HTTP check has no virtual-host setting: it sends its request to the member's address",
        "ops": "Tandem sets no one-packet scheduling", "hashed": "Tandem sets no hashed flag",
        "persistence_engine": "Tandem has no persistence engine: persistence is by client address (persistence.netmask)",
        "sorry_server_inhibit": "Tandem puts the sorry server in when every member has failed and takes it out when one is back",
        "sorry_server_lvs_method": "the sorry server is forwarded the service's way (forwarding)",
        "snmp_name": "Tandem exports Prometheus metrics, not SNMP",
        "warmup": "Tandem spreads the first checks with a deterministic jitter (docs/health-checks.md); there is no warm-up",
        "uthreshold": "Tandem sets no connection thresholds on real servers", "lthreshold": "Tandem sets no connection thresholds on real servers",
        // checkers
        "bindto": bind, "bind_port": bind, "bind_if": bind, "connect_ip": bind, "source_ip": bind,
        "fwmark": "Tandem's checks set no firewall mark",
        "digest": "keepalived compares an MD5 of the body; Tandem compares a SHA-256 (body_sha256) or a substring (body_contains): the check compares the status only until you add one",
        "regex": "Tandem's HTTP check matches a plain substring (body_contains), not a regular expression",
        "regex_no_match": "Tandem's HTTP check matches a plain substring (body_contains), not a regular expression",
        "regex_options": "Tandem's HTTP check has no regular expressions", "regex_stack": "Tandem's HTTP check has no regular expressions",
        "regex_min_offset": "Tandem's HTTP check has no regular expressions", "regex_max_offset": "Tandem's HTTP check has no regular expressions",
        "http_protocol": "Tandem's HTTP check speaks HTTP/1.1", "enable_sni": "Tandem's HTTPS check sends no server name",
        "tls_compliant": "Tandem's HTTPS check closes TLS cleanly", "fast_recovery": "Tandem's checks have no fast recovery mode",
        "misc_dynamic": "Tandem reads an exec check's exit status as healthy (0) or failed (anything else); it sets no weight from it",
        "user": "Tandem runs exec checks as tandemd's own user",
        "SSL": "Tandem's HTTPS check verifies no client certificate setup: it has no SSL section",
        "SMTP_CHECK": "Tandem opens a TCP connection to the member's port instead (no HELO exchange)",
        "DNS_CHECK": "Tandem has no DNS check: write an exec check (for example dig) by hand",
        "UDP_CHECK": "Tandem has no UDP payload check: write an exec check by hand",
        "FILE_CHECK": "Tandem has no file check: write an exec check by hand",
        "BFD_CHECK": "Tandem has no BFD check",
        "include": "the include's files are read in its place",
    ]

    /// What Tandem does instead of `keyword`; a generic sentence for keywords not in the table.
    static func insteadOf(_ keyword: String) -> String {
        instead[keyword] ?? "not mapped: Tandem has no equivalent of '\(keyword)'"
    }
}
