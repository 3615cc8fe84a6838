import ArgumentParser
import Cost
import Foundation
import Latency

/// `--latency-model FILE`: a calibration copied from the device to target; without it, this machine's own
/// calibration for the thread count and batch, if `efsearch calibrate` has made one.
struct LatencyModelOptions: ParsableArguments {
    @Option(name: .customLong("latency-model"), help: "A latency model from `efsearch calibrate` (default: this machine's, when calibrated).")
    var latencyModel: String?

    /// The model that applies at `threads` and `batch`, or nil (with a one-line note when a cached model exists
    /// but was made for another key). An explicit file must be for the same batch; one from another machine is
    /// used, and said so.
    func load(threads: Int, batch: Int, quiet: Bool = false) throws -> LatencyModel? {
        let here = CalibrationKey.current(threads: threads, batch: batch, efsearch: EfsearchVersion.current)
        if let latencyModel {
            let model = try LatencyModel.load(latencyModel)
            guard model.key.batch == batch else {
                throw CalibrationError(file: latencyModel, message: "calibrated at batch \(model.key.batch); this command is at batch \(batch) (calibrate with --batch \(batch))")
            }
            let differences = model.key.differences(from: here)
            if !differences.isEmpty && !quiet {
                Console.note("note: predicting latency for another machine (\(latencyModel): \(differences.joined(separator: ", ")))")
            }
            return model
        }
        let file = LatencyModel.cacheFile(in: MachineProfileCache.directory, key: here)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let model: LatencyModel
        do { model = try LatencyModel.load(file) } catch {
            if !quiet { Console.note("note: no predicted latency: \(error); run efsearch calibrate again") }
            return nil
        }
        let differences = model.key.differences(from: here)
        guard differences.isEmpty else {
            if !quiet {
                Console.note("note: no predicted latency: the calibration in \(file) was made for \(differences.joined(separator: ", ")); run efsearch calibrate again, or pass it as --latency-model to use it anyway")
            }
            return nil
        }
        return model
    }
}
