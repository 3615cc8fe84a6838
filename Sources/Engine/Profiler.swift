import Foundation

/// Wall-clock time per named layer, summed over calls (for `efsearch bench --per-layer`).
public final class LayerProfiler {
    public private(set) var order: [String] = []
    public private(set) var nanoseconds: [String: UInt64] = [:]
    /// Time each block as one step under its name (`blocks.1.0`), run as it runs without a profiler (fused in
    /// inference), instead of each of its units apart: what latency calibration times.
    public let wholeBlocks: Bool

    public init(wholeBlocks: Bool = false) {
        self.wholeBlocks = wholeBlocks
    }

    @inline(__always)
    public func measure<T>(_ name: @autoclosure () -> String, _ body: () -> T) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        let key = name()
        if nanoseconds[key] == nil { order.append(key) }
        nanoseconds[key, default: 0] += elapsed
        return result
    }

    public func reset() {
        order = []
        nanoseconds = [:]
    }
}

extension Optional where Wrapped == LayerProfiler {
    /// Runs `body`, timed under `name` when there is a profiler.
    @inline(__always)
    func measure<T>(_ name: @autoclosure () -> String, _ body: () -> T) -> T {
        guard let profiler = self else { return body() }
        return profiler.measure(name(), body)
    }
}
