import ArgumentParser
import Cost

/// `--latency-model FILE`: a calibration copied from the device to target; without it, this machine's own
/// calibration for the thread count and batch, if `efsearch calibrate` has made one.
struct LatencyModelOptions: ParsableArguments {
    @Option(name: .customLong("latency-model"), help: "A latency model from `efsearch calibrate` (default: this machine's, when calibrated).") var latencyModel: String?

    /// The model that applies at `threads` and `batch` (`LatencyModel.applicable`), notes on standard error unless `quiet`.
    func load(threads: Int, batch: Int, quiet: Bool = false) throws -> LatencyModel? {
        try LatencyModel.applicable(file: latencyModel, threads: threads, batch: batch) { if !quiet { Console.note($0) } }
    }
}
