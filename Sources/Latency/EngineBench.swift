import Architecture
import Cost
import Engine
import Foundation
import Statistics

/// What `efsearch bench` times: eval-mode forward passes, or training steps (forward, loss, backward, SGD).
public enum BenchMode: String, CaseIterable, Sendable { case inference, training }

/// Timed passes of one network on the engine, with seeded weights, inputs and labels.
public struct EngineBench {
    public var mode = BenchMode.inference
    public var batch = 1
    public var warmup = 3
    /// Timed passes per round.
    public var runs = 10
    /// Rounds (`RoundTimer`): the quietest round's median counts; with two or more, each between two series of
    /// the reference network.
    public var rounds = 3
    public var seed: UInt64 = 0
    /// Also time the unfused inference path (one pass per unit), interleaved with the fused one.
    public var compareUnfused = false
    /// Also time each layer (inference).
    public var perLayer = false

    public init(mode: BenchMode = .inference, batch: Int = 1, warmup: Int = 3, runs: Int = 10, rounds: Int = 3, seed: UInt64 = 0,
                compareUnfused: Bool = false, perLayer: Bool = false) {
        (self.mode, self.batch, self.warmup, self.runs, self.rounds) = (mode, batch, warmup, runs, rounds)
        (self.seed, self.compareUnfused, self.perLayer) = (seed, compareUnfused, perLayer)
    }

    /// Refuses settings out of range or that contradict each other, naming the flags.
    public func validate() throws {
        if compareUnfused && mode == .training { throw FlagError("--compare-unfused times inference passes; use it with --mode inference") }
        if perLayer && mode == .training { throw FlagError("--per-layer times inference passes; use it with --mode inference") }
        if batch < 1 { throw FlagError("--batch \(batch) must be at least 1") }
        if runs < 1 { throw FlagError("--runs \(runs) must be at least 1") }
        if rounds < 1 { throw FlagError("--rounds \(rounds) must be at least 1") }
        if warmup < 0 { throw FlagError("--warmup \(warmup) must be 0 or more") }
    }

    /// Sorted pass times in milliseconds (every kept round's), the rounds (`RoundTimer`, milliseconds), the
    /// unfused path's times when compared, and per layer the mean time over the timed runs (in the order the
    /// layers ran).
    public struct Result: Sendable {
        public var times: [Double]
        public var rounds: RoundTimer.Timing
        public var unfusedTimes: [Double]
        public var peakBytes: Int
        /// Multiply-accumulates of one pass at the benchmark's batch.
        public var macs: Double
        public var layers: [(name: String, milliseconds: Double)]?

        /// The `p` quantile (0...1) of sorted `times`, nearest rank.
        public static func percentile(_ p: Double, of times: [Double]) -> Double { Statistics.nearestRank(p, ofSorted: times) }
        public func percentile(_ p: Double) -> Double { Result.percentile(p, of: times) }
        /// The quietest round's median.
        public var median: Double { rounds.best }
        public var unfusedMedian: Double? { unfusedTimes.isEmpty ? nil : Result.percentile(0.5, of: unfusedTimes) }
    }

    /// Times `network` with weights from `seed`.
    public func run(_ network: Network) throws -> Result {
        let model = EfficientNetModel(network)
        model.initialize(seed: seed)
        return try run(model)
    }

    /// Times `model` with its weights as they are (a trained candidate's, for a search's measured latency), on
    /// inputs and labels from `seed`.
    public func run(_ model: EfficientNetModel) throws -> Result {
        let network = model.network
        let random = RandomGenerator(seed: seed &+ 1)
        let x = Tensor(shape: [batch, network.resolution, network.resolution, 3])
        for index in 0..<x.count { x[index] = Float(random.gaussian()) }
        let labels = (0..<batch).map { _ in random.uniformInt(network.classes) }
        let dLogits = Tensor(shape: [batch, network.classes])
        let optimizer = SGD(learningRate: 0.01, momentum: 0.9)
        let parameters = model.namedParameters().map(\.1)
        var steps = 0
        func step(fused: Bool) throws {
            steps += 1
            try EngineConfiguration.current.with { $0.fused = fused }.apply { try pass() }
        }
        func pass() throws {
            switch mode {
            case .inference:
                _ = model.forward(x, training: false)
            case .training:
                model.zeroGradients()
                let logits = model.forward(x, training: true, random: random)
                let loss = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0.1, gradient: dLogits)
                guard loss.isFinite else { throw TrainingDiverged(step: steps, loss: loss) }
                model.backward(dLogits)
                optimizer.step(parameters)
            }
        }
        for _ in 0..<warmup {
            try step(fused: true)
            if compareUnfused { try step(fused: false) }
        }
        var unfusedTimes: [Double] = []
        let reference = rounds > 1 ? try EngineBench.reference(batch: 1) : nil
        let timing = try RoundTimer(rounds: rounds).measure(series: {
            try step(fused: true)  // untimed: the reference's weights have just been in the caches
            var times: [Double] = []
            for run in 0..<runs {
                // With compareUnfused the two paths alternate (and which goes first alternates), so that a noisy
                // machine slows both alike.
                for fused in compareUnfused ? (run % 2 == 0 ? [true, false] : [false, true]) : [true] {
                    let ms = try PassClock.seconds { try step(fused: fused) } * 1000
                    if fused { times.append(ms) } else { unfusedTimes.append(ms) }
                }
            }
            return times
        }, reference: reference.map { reference in { reference() * 1000 } })
        let peakBytes = PeakMemory.residentBytes()
        var layers: [(name: String, milliseconds: Double)]?
        if perLayer {
            let profiler = LayerProfiler()
            for _ in 0..<runs { _ = model.forward(x, training: false, profiler: profiler) }
            layers = profiler.order.map { ($0, Double(profiler.nanoseconds[$0]!) / Double(runs) / 1e6) }
        }
        return Result(times: timing.all, rounds: timing, unfusedTimes: unfusedTimes.sorted(), peakBytes: peakBytes,
                      macs: Double(CostModel.summary(of: network).macs) * Double(batch), layers: layers)
    }
}

extension EngineBench {
    /// The reference network of the drift check (the calibration's, `LatencyModel.probe`), warmed up: a closure
    /// that runs one series of it (an untimed pass, then at least 10 passes and 0.05 s) and returns its median
    /// pass in seconds.
    static func reference(batch: Int) throws -> () -> Double {
        let probe = NetworkTimer.prepare(try NetworkTimer.probeNetwork(), batch: batch, warmup: 2, runs: 10, minimumSeconds: 0.05)
        return { Statistics.median(NetworkTimer.series(probe)) }
    }
}

/// The clock every engine timing reads (`bench` and a search's measured latency through `EngineBench`,
/// calibration's series through `NetworkTimer`): the monotonic clock around one call, in seconds.
public enum PassClock {
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
