import Foundation

/// Micro-benchmarks for the two figures of a roofline: GEMM throughput and memory bandwidth; and what this
/// machine computes with.
public enum MachineBenchmark {
    /// The CPU's model name (`/proc/cpuinfo`), or the architecture where there is none.
    public static var cpuModel: String {
        if let model = cpuInfo("model name") { return model }
        #if arch(x86_64)
        return "x86_64"
        #else
        return "unknown"
        #endif
    }

    /// The first CPU's level-2 cache in bytes (Linux's sysfs), nil where it is not known.
    public static var level2CacheBytes: Int? {
        let root = "/sys/devices/system/cpu/cpu0/cache"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: root) else { return nil }
        for entry in entries.sorted() where entry.hasPrefix("index") {
            func read(_ name: String) -> String? {
                (try? String(contentsOfFile: "\(root)/\(entry)/\(name)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard read("level") == "2", read("type") != "Instruction", var size = read("size") else { continue }
            var unit = 1
            if size.hasSuffix("K") { unit = 1 << 10; size.removeLast() } else if size.hasSuffix("M") { unit = 1 << 20; size.removeLast() }
            if let value = Int(size), value > 0 { return value * unit }
        }
        return nil
    }

    /// The first CPU's `field` in `/proc/cpuinfo` (such as "model name" or "flags"), nil where there is none.
    static func cpuInfo(_ field: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    /// GFLOP/s of a square `size`^3 sgemm with OpenBLAS on the current thread count: the best of `runs`.
    public static func gemmGFLOPS(size: Int = 512, runs: Int = 5) -> Double {
        let count = size * size
        let a = [Float](repeating: 0.5, count: count)
        let b = [Float](repeating: 0.25, count: count)
        var c = [Float](repeating: 0, count: count)
        var best = Double.infinity
        for _ in 0..<(runs + 1) {  // the first run warms the threads up and is not counted
            let start = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(m: size, n: size, k: size, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, seconds)
        }
        precondition(c[0] == Float(size) * 0.125, "sgemm returned a wrong value")
        let gflops = 2 * Double(size * size * size) / best / 1e9
        return best == .infinity ? 0 : gflops
    }

    /// Copy bandwidth in GB/s (bytes read plus bytes written per second) over `megabytes` MiB, one thread.
    public static func copyBandwidthGBs(megabytes: Int = 256, runs: Int = 3) -> Double {
        let count = megabytes * 1024 * 1024 / 4
        let source = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let target = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { source.deallocate(); target.deallocate() }
        source.initialize(repeating: 1, count: count)
        target.initialize(repeating: 0, count: count)
        var best = Double.infinity
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            target.update(from: source, count: count)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return 2 * Double(count * 4) / best / 1e9
    }
}

/// Where efsearch keeps what it measures or decodes once: `$EFSEARCH_CACHE_DIR`, `$XDG_CACHE_HOME/efsearch`
/// or `~/.cache/efsearch`.
public enum CacheLocation {
    public static var directory: URL {
        let environment = ProcessInfo.processInfo.environment
        if let dir = environment["EFSEARCH_CACHE_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        if let dir = environment["XDG_CACHE_HOME"], !dir.isEmpty { return URL(fileURLWithPath: dir).appendingPathComponent("efsearch") }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/efsearch")
    }
}

/// The process's peak resident memory.
public enum PeakMemory {
    public static func residentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024  // kilobytes on Linux
    }
}
