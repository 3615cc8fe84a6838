import Architecture
import Cost
import Engine
import Foundation

/// The measured machine profile, cached as JSON in `$EFSEARCH_CACHE_DIR`, `$XDG_CACHE_HOME/efsearch` or
/// `~/.cache/efsearch`, one file per thread count.
public enum MachineProfileCache {
    struct Entry: Codable {
        var threads: Int
        var peakGFLOPS: Double
        var bandwidthGBs: Double
        var openblasCore: String
        var measuredAt: String
    }

    public static var directory: URL { CacheLocation.directory }

    public static func file(threads: Int) -> URL { directory.appendingPathComponent("machine-\(threads)-threads.json") }

    public static func load(threads: Int) -> MachineProfile? {
        guard let data = try? Data(contentsOf: file(threads: threads)),
              let entry = try? JSONDecoder().decode(Entry.self, from: data),
              entry.peakGFLOPS > 0, entry.bandwidthGBs > 0 else { return nil }
        return MachineProfile(peakGFLOPS: entry.peakGFLOPS, bandwidthGBs: entry.bandwidthGBs, source: "measured")
    }

    /// Measures GEMM throughput (512^3 sgemm) and copy bandwidth (256 MiB), then caches them. A cache that
    /// cannot be written is reported (`note`) and otherwise ignored.
    public static func measure(threads: Int, note: (String) -> Void) -> MachineProfile {
        note("measuring this machine for the roofline (once; cached in \(directory.path)) ...")
        BLAS.setThreads(threads)
        defer { BLAS.setThreads(1) }  // the engine runs OpenBLAS single-threaded and splits GEMMs itself
        let gflops = MachineBenchmark.gemmGFLOPS()
        let bandwidth = MachineBenchmark.copyBandwidthGBs()
        let entry = Entry(
            threads: threads, peakGFLOPS: gflops, bandwidthGBs: bandwidth, openblasCore: BLAS.coreName,
            measuredAt: ISO8601DateFormatter().string(from: Date()))
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(entry).write(to: file(threads: threads), options: .atomic)
        } catch {
            note("note: could not cache the machine profile: \(error.localizedDescription)")
        }
        return MachineProfile(peakGFLOPS: gflops, bandwidthGBs: bandwidth, source: "measured")
    }
}

extension MachineProfileCache {
    /// The cached roofline figures for `threads` (the development machine's when nothing is cached).
    public static func cached(threads: Int) -> MachineProfile { load(threads: threads) ?? .developmentMachine }
}

extension LatencyModel {
    /// The model that applies at `threads` and `batch`: `file` when given (it must be for the same batch; one from
    /// another machine is used, and `note` says so), else this machine's cached calibration for that key, or nil
    /// (with a note when a cached model exists but cannot be used).
    public static func applicable(file: String?, threads: Int, batch: Int, efsearch: String = EfsearchVersion.current, note: (String) -> Void) throws -> LatencyModel? {
        let here = CalibrationKey.current(threads: threads, batch: batch, efsearch: efsearch)
        if let file {
            let model = try LatencyModel.load(file)
            guard model.key.batch == batch else {
                throw CalibrationError(file: file, message: "calibrated at batch \(model.key.batch); this command is at batch \(batch) (calibrate with --batch \(batch))")
            }
            let differences = model.key.differences(from: here)
            if !differences.isEmpty { note("note: predicting latency for another machine (\(file): \(differences.joined(separator: ", ")))") }
            return model
        }
        let cached = LatencyModel.cacheFile(in: MachineProfileCache.directory, key: here)
        guard FileManager.default.fileExists(atPath: cached) else { return nil }
        let model: LatencyModel
        do { model = try LatencyModel.load(cached) } catch {
            note("note: no predicted latency: \(error); run efsearch calibrate again")
            return nil
        }
        let differences = model.key.differences(from: here)
        guard differences.isEmpty else {
            note("note: no predicted latency: the calibration in \(cached) was made for \(differences.joined(separator: ", ")); run efsearch calibrate again, or pass it as --latency-model to use it anyway")
            return nil
        }
        return model
    }
}

extension MachineProfileCache {
    /// What `efsearch machine` prints: the BLAS that `cblas_sgemm` resolved to and its kernels, the threads, the
    /// roofline's two figures and where they are cached.
    public static func describe(_ profile: MachineProfile, threads: Int) -> String {
        let chosen = ProcessInfo.processInfo.environment[BLAS.chosenCoreVariable].map { _ in ", chosen by efsearch: OpenBLAS did not recognise this CPU" } ?? ""
        return """
            cblas_sgemm  \(BLAS.sgemmLibraryPath) (OpenBLAS core \(BLAS.coreName)\(chosen))
            threads      \(threads)
            GEMM         \(Format.fixed(profile.peakGFLOPS, 1)) GFLOP/s (sgemm 512^3, \(profile.source))
            bandwidth    \(Format.fixed(profile.bandwidthGBs, 1)) GB/s (256 MiB copy, \(profile.source))
            cache        \(file(threads: threads).path)
            """
    }

    /// The roofline's profile: both figures given (`--peak-gflops`, `--bandwidth-gbs`), or the cache for this
    /// thread count (measured when missing, with `note` on the way) with a given figure in place of its own.
    public static func profile(threads: Int, peakGFLOPS: Double?, bandwidthGBs: Double?, note: (String) -> Void) -> MachineProfile {
        if let peakGFLOPS, let bandwidthGBs {
            return MachineProfile(peakGFLOPS: peakGFLOPS, bandwidthGBs: bandwidthGBs, source: "flags")
        }
        var profile = load(threads: threads) ?? measure(threads: threads, note: note)
        if let peakGFLOPS { profile.peakGFLOPS = peakGFLOPS; profile.source += "+flags" }
        if let bandwidthGBs { profile.bandwidthGBs = bandwidthGBs; profile.source += "+flags" }
        return profile
    }
}
