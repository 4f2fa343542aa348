/// FNV-1a, 64 bits: a tiny, stable, non-cryptographic hash of text. Stable means the same on every
/// machine, build and run (Swift's `Hasher` is seeded per process), which is what a derived value
/// that must survive restarts and moves needs: a check's jitter offset, a VM's MAC address.
public enum FNV1a {
    /// The 64-bit FNV-1a hash of `text`'s UTF-8 bytes.
    public static func hash64(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }
}
