import CCrypto
import Foundation

/// SHA-256 through the system's libcrypto (OpenSSL's EVP interface): the image cache's key and the digest of a
/// run's stored search space. The same small API as swift-crypto's, which efsearch used before: the whole of
/// BoringSSL compiled for two hashes.
public struct SHA256 {
    /// One digest in progress; freed with the value.
    private final class Context {
        let pointer: OpaquePointer
        init() {
            guard let pointer = EVP_MD_CTX_new(), EVP_DigestInit_ex(pointer, EVP_sha256(), nil) == 1 else {
                fatalError("libcrypto could not start a SHA-256 digest")
            }
            self.pointer = pointer
        }
        deinit { EVP_MD_CTX_free(pointer) }
    }

    private let context = Context()

    public init() {}

    public mutating func update(data: Data) {
        data.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            precondition(EVP_DigestUpdate(context.pointer, base, bytes.count) == 1, "libcrypto refused a SHA-256 update")
        }
    }

    /// The 32 bytes of the digest (the hasher is used up).
    public func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context.pointer, &digest, &length) == 1 && length == 32, "libcrypto could not finish a SHA-256 digest")
        return Array(digest.prefix(32))
    }

    public static func hash(data: Data) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: data)
        return hasher.finalize()
    }
}
