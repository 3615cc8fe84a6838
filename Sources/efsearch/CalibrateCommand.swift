import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Latency
import Search

extension Efsearch {
    /// `efsearch calibrate`: fits a latency model on this machine, or checks one against timed passes.
    struct Calibrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the engine's units on seeded random networks and fit a latency model, or check one (--check N).",
            discussion: """
            Calibration times seeded random networks (all four block types, kernels 3-7, 64-320 px; a quarter of \
            them members of the built-in families at other widths, depths and resolutions) in inference as the \
            engine runs them: every block whole (fused), the stem, head and classifier apart, beside passes of a \
            reference network (EfficientNet-B0 at 160 px) so that the host's speed drift cancels out. A block's time \
            is the sum of its units' linear models (MACs with the busiest thread's share, activation bytes, weight \
            bytes, SiLU elements, kxk tap-outputs, and the bytes of weights and of activations larger than the L2 cache); all units are fitted together over the timed \
            blocks by weighted least squares (GSL), minimising relative error, then whole passes give a scale, an \
            exponent and a per-pass term. The model is cached for this CPU, thread count, batch, efsearch version \
            and BLAS, and `estimate`, `nas` and `grid` use it from then on.

            Examples:
              efsearch calibrate                          # about 3 minutes on 2 cores
              efsearch calibrate --check 40 --json        # predicted against measured on 40 new networks
              efsearch calibrate --out device.json        # then, elsewhere: efsearch estimate ... --latency-model device.json
            """)

        @Option(help: "Threads of the engine (default: all cores).") var threads: Int?
        @Option(help: "Batch size of the timed passes.") var batch: Int = 1
        @Option(name: .customLong("budget-seconds"), help: "Time to spend drawing and timing networks (a calibration takes about this long).") var budgetSeconds: Double = 180
        @Option(help: "Write the model here (default: the cache directory).") var out: String?
        @Option(help: "Seed of the random networks.") var seed: UInt64 = 0
        @Option(help: "Check the model instead: time this many networks never used to fit it.") var check: Int?
        @Option(help: "With --check: draw the networks from this search space (default: random arch strings, 96-256 px).") var space: String?
        @Option(help: "With --check: also write each network's predicted and measured ms to this CSV file.") var csv: String?
        @Option(help: "Timed passes per network per round, the same to calibrate and to check (with fewer, a network's time relative to the reference comes out lower).") var runs: Int = 10
        @Option(name: .customLong("series-seconds"), help: "Each series of timed passes, the reference network's too, lasts at least this long: a fast network runs more than --runs passes.") var seriesSeconds: Double = 0.1
        @Option(help: "Rounds over all the networks (default 3 to calibrate, 10 with --check); a network's time relative to the reference network is the median over rounds.") var rounds: Int?
        @Option(name: .customLong("family-share"), help: "The share of calibration networks drawn from the built-in families (EfficientNet-B0, MobileNetV2, MnasNet, EfficientNetV2-S at other widths, depths and resolutions); the rest are random arch strings. A check draws random arch strings only.") var familyShare: Double = 0.25
        @Option(help: "Also write every timed block and unit (its units' features, seconds) to this CSV file.") var samples: String?
        @OptionGroup var latency: LatencyModelOptions
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
            if batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
            if !(budgetSeconds > 0) { throw ValidationError("--budget-seconds \(budgetSeconds) must be greater than 0") }
            if let check, check < 2 { throw ValidationError("--check \(check) must be at least 2 (a ranking needs two networks)") }
            if runs < 1 { throw ValidationError("--runs \(runs) must be at least 1") }
            if !(seriesSeconds >= 0 && seriesSeconds <= 60) { throw ValidationError("--series-seconds \(seriesSeconds) must be between 0 and 60") }
            if !(familyShare >= 0 && familyShare <= 1) { throw ValidationError("--family-share \(familyShare) must be between 0 and 1") }
            if let rounds, rounds < 1 { throw ValidationError("--rounds \(rounds) must be at least 1") }
            if check == nil && (space != nil || csv != nil) { throw ValidationError("--space and --csv go with --check") }
        }

        var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

        func run() throws {
            Parallel.setThreads(threadCount)
            if let check { try runCheck(count: check) } else { try calibrate() }
        }

        func calibrate() throws {
            let key = CalibrationKey.current(threads: threadCount, batch: batch, efsearch: EfsearchVersion.current)
            let path = out ?? LatencyModel.cacheFile(in: MachineProfileCache.directory, key: key)
            // Check the destination before spending minutes.
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw CalibrationError(file: path, message: "cannot create \(directory.path): \(error.localizedDescription)")
            }
            guard FileManager.default.isWritableFile(atPath: directory.path) else { throw CalibrationError(file: path, message: "its folder is not writable") }
            if !json { Console.note("calibrating \(key) for about \(Int(budgetSeconds)) s") }
            var networks = RandomNetworks(seed: seed, resolutions: 64...320, familyShare: familyShare)
            // As many plain passes as a check times (`--runs`), so that both time a network alike: with 4 here and 10
            // in the check, the relative times came out 5% lower than the check's.
            let rounds = self.rounds ?? 3
            let timer = try NetworkTimer(batch: batch, warmup: 2, runs: runs, profiledRuns: 4, rounds: rounds, minimumSeconds: seriesSeconds)
            let fusedExpansions = InferenceKernels.fusesExpansions
            let start = Date()
            // First the networks: drawn and warmed up until their rounds fill the budget, and every unit has
            // enough samples to fit (at most four budgets and 10 s).
            var prepared: [NetworkTimer.Prepared] = []
            var roundSeconds = 0.0
            var counts: [LatencyUnit: Int] = [:]
            let needed = [LatencyUnit.stem, .head, .classifier, .projection, .dense, .depthwise3, .depthwise5, .depthwise7, .squeezeExcite,
                          fusedExpansions ? .expansion : .pointwise]
            func enough() -> Bool {
                prepared.count >= 8 && needed.allSatisfy { counts[$0, default: 0] >= 2 * LatencyFeatures.count }
            }
            while Date().timeIntervalSince(start) + Double(rounds) * roundSeconds < budgetSeconds || !enough() {
                let network = networks.next()
                // Beyond 10 GMACs a pass takes a second or more, and teaches little more than a mid-sized one.
                guard CostModel.summary(of: network).macs * batch <= 10_000_000_000 else { continue }
                let ready = timer.prepare(network)
                prepared.append(ready)
                roundSeconds += timer.roundSeconds(of: ready)
                CostModel.forEachLayer(of: network) { row in
                    if let unit = LatencyPredictor.unit(of: row, fusedExpansions: fusedExpansions) { counts[unit, default: 0] += 1 }
                }
                if Date().timeIntervalSince(start) + Double(rounds) * roundSeconds > 4 * budgetSeconds + 10 { break }
            }
            // Then rounds over all of them, as a check times its networks: a network's rounds are a third of the
            // calibration apart, not seconds, so that each measures the host over the whole calibration as a check
            // does. (Against groups of six timed a few seconds apart, two calibrations each gave checks alike: 85-90%
            // within 10%; a network's time still differs by 7-9% RMS between calibrations, from 3 rounds.)
            if !json { Console.note("timing \(prepared.count) networks in \(rounds) rounds of about \(Int(roundSeconds.rounded())) s") }
            let progress = ProgressBar("calibrate", total: Double(prepared.count * rounds))
            let timings = timer.profile(prepared) { progress.update(Double($0), detail: "round \(($0 - 1) / prepared.count + 1) of \(rounds)") }
            progress.finish()
            // Timings relative to the reference network (`NetworkTimer`), made seconds at the reference's median
            // speed over the whole calibration.
            let relative = zip(prepared, timings).map { (network: $0.network, layers: $1.layers, total: $1.total) }
            let reference = timer.probeSeconds
            let cacheBytes = MachineBenchmark.level2CacheBytes.map(Double.init)
            var samples = CalibrationSamples()
            var timed: [(Network, Double)] = []
            for (network, layers, total) in relative {
                let timings = Calibration.samples(network, layers: layers.mapValues { $0 * reference }, total: total * reference, batch: batch,
                                                  threads: threadCount, fusedExpansions: fusedExpansions,
                                                  lanes: InferenceKernels.vectorLanes, cacheBytes: cacheBytes)
                samples.units += timings.units
                samples.blocks += timings.blocks
                timed.append((network, total * reference))
            }
            var model = try Calibration.fit(samples, key: key, networks: timed, lanes: InferenceKernels.vectorLanes, cacheBytes: cacheBytes)
            model.probeSeconds = reference
            try model.save(path)
            if let file = self.samples {
                // Whole passes too: the network (arch string; resolution, stem, head, classes and activation) and its time.
                let passes = timed.map { network, seconds in
                    "pass,\"\(network.archString)\",network,resolution=\(network.resolution) stem=\(network.stemChannels) head=\(network.headChannels) "
                        + "classes=\(network.classes) activation=\(network.activation.rawValue),\(seconds)"
                }
                let text = ([CalibrationSamples.csvHeader] + samples.csvLines + passes).joined(separator: "\n") + "\n"
                do { try text.write(toFile: file, atomically: true, encoding: .utf8) } catch {
                    throw CalibrationError(file: nil, message: "cannot write --samples \(file): \(error.localizedDescription)")
                }
            }
            if json {
                var object = JSONObjectWriter()
                object.add("file", path)
                object.add("networks", model.networks)
                object.add("fit_mape", model.fitMAPE)
                let units = LatencyUnit.allCases.compactMap { unit in
                    model.units[unit].map { "\"\(unit.rawValue)\":{\"samples\":\($0.samples),\"rms_relative_error\":\($0.rmsRelativeError)}" }
                }
                object.addRaw("units", "{" + units.joined(separator: ",") + "}")
                print(object.finished())
                return
            }
            var rows: [[String]] = []
            for unit in LatencyUnit.allCases {
                guard let fit = model.units[unit] else { continue }
                rows.append([unit.rawValue, "\(fit.samples)", Format.fixed(100 * fit.rmsRelativeError, 1) + "%"])
                if !ProgressBar.isTerminalOutput { Console.note("\(unit.rawValue): \(fit.samples) timed units, RMS error \(Format.fixed(100 * fit.rmsRelativeError, 1))%") }
            }
            print(Format.table(["unit", "samples", "RMS rel. error"], rows, leftColumns: 1))
            print("\(model.networks) networks timed; end to end the fit is off by \(Format.fixed(100 * model.fitMAPE, 1))% on average (in sample)")
            print("wrote \(path)")
            print("check it on networks it has not seen: efsearch calibrate --check 40\(out.map { " --latency-model \($0)" } ?? "")")
        }

        /// The networks of a check: from a search space (random genotypes), or random arch strings.
        func checkNetworks(count: Int) throws -> [(name: String, network: Network)] {
            // A different seed from any calibration's: these networks were never used to fit.
            let checkSeed = seed &+ 0x5EED_C4EC
            if let space {
                let searchSpace = try SearchSpace.load(path: space)
                let random = RandomGenerator(seed: checkSeed)
                var result: [(String, Network)] = []
                var attempts = 0
                while result.count < count && attempts < 1000 * count {
                    attempts += 1
                    let genotype = searchSpace.dimensions.map { random.uniformInt($0.count) }
                    guard let network = try? searchSpace.network(for: genotype).resolve() else { continue }
                    result.append((network.archString, network))
                }
                return result
            }
            var networks = RandomNetworks(seed: checkSeed, resolutions: 96...256)
            return (0..<count).map { _ in let network = networks.next(); return (network.archString, network) }
        }

        func runCheck(count: Int) throws {
            guard let model = try latency.load(threads: threadCount, batch: batch, quiet: json) else {
                throw CalibrationError(file: nil, message: "no latency model for this machine (\(threadCount) threads, batch \(batch)): run efsearch calibrate first, or pass --latency-model FILE")
            }
            let predictor = model.predictor
            var cases = try checkNetworks(count: count).map { (group: "random", name: $0.name, network: $0.network) }
            for preset in ["efficientnet-b0", "efficientnet-b1", "efficientnetv2-s", "mobilenetv2-100", "mnasnet-100"] {
                cases.append((group: "preset", name: preset, network: try Architecture.Presets.named(preset).spec.resolve()))
            }
            var predictions: [Double] = []
            for item in cases {
                guard let predicted = predictor.seconds(of: item.network, batch: batch) else {
                    throw CalibrationError(file: latency.latencyModel, message: "the model has no fit for a unit of \(item.name)")
                }
                predictions.append(predicted)
            }
            // Ten rounds: two checks of the same networks with five agreed to 4.8-6.2% RMS, with ten to 2.6-3.7%. The
            // host's speed against the reference's decorrelates within a second, so rounds 25 s apart average it out.
            let rounds = self.rounds ?? 10
            let timer = try NetworkTimer(batch: batch, warmup: 2, runs: runs, rounds: rounds, minimumSeconds: seriesSeconds)
            let progress = ProgressBar("check", total: Double(cases.count * rounds))
            let timings = timer.seconds(cases.map(\.network)) { progress.update(Double($0)) }
            progress.finish()
            // Drift-corrected: each network's time relative to the reference network beside it, at the
            // reference's speed during the calibration.
            let reference = model.probeSeconds
            let rows = cases.indices.map { index in
                (group: cases[index].group, name: cases[index].name, network: cases[index].network, predicted: predictions[index] * 1000,
                 measured: timings[index].median * 1000, corrected: reference.map { timings[index].relative * $0 * 1000 })
            }
            let random = rows.filter { $0.group == "random" }
            let predicted = random.map(\.predicted)
            let plain = CheckFigures(predicted: predicted, measured: random.map(\.measured))
            let corrected = reference.map { _ in CheckFigures(predicted: predicted, measured: random.map { $0.corrected! }) }
            if let csv {
                // The whole network (its scaled arch string, stem, head, classes, activation), so that another model
                // can predict it again (`estimate --arch A --stem S --head H ...`).
                let text = "group,network,resolution,stem,head,classes,activation,predicted_ms,measured_ms,drift_corrected_ms\n" + rows.map { row in
                    let n = row.network
                    return "\(row.group),\"\(row.name)\",\(n.resolution),\(n.stemChannels),\(n.headChannels),\(n.classes),\(n.activation.rawValue),"
                        + "\(row.predicted),\(row.measured),\(row.corrected.map { "\($0)" } ?? "")"
                }.joined(separator: "\n") + "\n"
                do { try text.write(toFile: csv, atomically: true, encoding: .utf8) } catch {
                    throw CalibrationError(file: nil, message: "cannot write --csv \(csv): \(error.localizedDescription)")
                }
            }
            let presets = rows.filter { $0.group == "preset" }
            if json {
                var object = JSONObjectWriter()
                object.add("count", random.count)
                plain.add(to: &object)
                if let corrected {
                    var nested = JSONObjectWriter()
                    corrected.add(to: &nested)
                    object.addRaw("drift_corrected", nested.finished())
                }
                object.add("threads", threadCount)
                object.add("batch", batch)
                object.add("rounds", rounds)
                object.add("runs", runs)
                object.add("series_seconds", seriesSeconds)
                let items = presets.map { row -> String in
                    var item = JSONObjectWriter()
                    item.add("name", row.name)
                    item.add("resolution", row.network.resolution)
                    item.add("predicted_ms", row.predicted)
                    item.add("measured_ms", row.measured)
                    if let value = row.corrected { item.add("drift_corrected_ms", value) }
                    return item.finished()
                }
                object.addRaw("presets", "[" + items.joined(separator: ",") + "]")
                print(object.finished())
                return
            }
            print("\(random.count) networks never used in the fit, batch \(batch), \(threadCount) threads, \(rounds) rounds of at least \(runs) passes and \(Format.fixed(seriesSeconds, 2)) s each:")
            print("measured (median of all passes):  \(plain.summary)")
            if let corrected { print("drift-corrected (to the reference): \(corrected.summary)") }
            print()
            print(Format.table(["preset", "px", "predicted ms", "measured ms", "error", "corrected ms", "error"], presets.map { row in
                [row.name, "\(row.network.resolution)", Format.fixed(row.predicted, 2), Format.fixed(row.measured, 2), Format.fixed(100 * (row.predicted / row.measured - 1), 1) + "%",
                 row.corrected.map { Format.fixed($0, 2) } ?? "-", row.corrected.map { Format.fixed(100 * (row.predicted / $0 - 1), 1) + "%" } ?? "-"]
            }, leftColumns: 1))
        }
    }
}

/// A check's figures: predicted against measured milliseconds.
struct CheckFigures {
    var tau: Double, mape: Double, within5: Double, within10: Double

    init(predicted: [Double], measured: [Double]) {
        tau = Statistics.kendallTau(predicted, measured)
        mape = Statistics.meanAbsolutePercentageError(predicted: predicted, measured: measured)
        within5 = Statistics.shareWithin(0.05, predicted: predicted, measured: measured)
        within10 = Statistics.shareWithin(0.10, predicted: predicted, measured: measured)
    }

    func add(to object: inout JSONObjectWriter) {
        object.add("kendall_tau", tau)
        object.add("mape", mape)
        object.add("within_5", within5)
        object.add("within_10", within10)
    }

    var summary: String {
        "Kendall tau \(Format.fixed(tau, 3)), mean absolute error \(Format.fixed(100 * mape, 1))%, within 5%: \(Format.fixed(100 * within5, 0))%, within 10%: \(Format.fixed(100 * within10, 0))%"
    }
}
