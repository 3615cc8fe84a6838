import Architecture
import ArgumentParser
import Engine
import Foundation
import Store

@main
struct Efsearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "efsearch",
        abstract: "Architecture search and compound scaling for EfficientNet-style CNNs.",
        version: EfsearchVersion.current,
        subcommands: [Estimate.self, Scale.self, Presets.self, Machine.self, Calibrate.self, Init.self, Infer.self, Onnx.self, Bench.self, Train.self, Eval.self, Nas.self, Worker.self, Grid.self, Runs.self, Frontier.self, Show.self, Export.self, Report.self, Proxies.self, ProxyCheck.self, StoreGroup.self, SupernetGroup.self]
    )

    /// What `efsearch` with no arguments prints: a first session, each line a command that runs as it is.
    static let tour = """
        efsearch: architecture search and compound scaling for EfficientNet-style CNNs.

        A first session (about a minute; the store is results/efsearch.sqlite):
          efsearch estimate efficientnet-b0                   # params, MACs, memory, latency of a preset
          efsearch scale --phi 0-3                             # the B0..B3 family from alpha, beta, gamma
          efsearch estimate --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25' --resolution 96 --json
          efsearch nas --space searchspaces/tiny.yaml --budget 6 --fidelity estimate --objectives macs,naswot --run tour
          efsearch frontier tour                               # the Pareto frontier, from the store
          efsearch report tour                                 # notebooks-export/tour/report.html
          efsearch export tour --format json                   # candidates and frontier for a notebook
        On your own images (DIR/<class>/*.jpg), keeping the weights to deploy:
          efsearch nas --space searchspaces/tiny.yaml --budget 24 --dataset folder:photos --keep-checkpoints --run mine
          efsearch onnx --run mine --id 7 --out mine-7.onnx    # a candidate of the frontier, for ONNX Runtime

        Every command: efsearch --help; each with examples: efsearch help COMMAND. Documentation: README.md and docs/.
        """

    /// Runs a command; bad input (a parse or validation error, or a `UserInputError`) exits with status 2.
    static func main() {
        // OpenBLAS picks its kernels when it loads; on a CPU newer than the library it falls back to SSE3 ones.
        BLAS.chooseBetterCore()
        if CommandLine.arguments.count == 1 {
            print(tour)
            return
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error where error is UserInputError || error is StoreError {
            // Bad input, or a store that cannot be opened, is damaged or refuses a write: named, never a crash or a row dump.
            Console.error("\(error)")
            Foundation.exit(2)
        } catch let error as TrainingDiverged {
            Console.error("\(error)")
            Foundation.exit(3)
        } catch {
            if exitCode(for: error) == .validationFailure {
                Console.error(fullMessage(for: error))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

/// Prints to standard error.
enum Console {
    static func error(_ message: String) {
        let text = message.hasPrefix("Error:") || message.hasPrefix("error:") ? message : "error: " + message
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func note(_ message: String) {
        fflush(nil)  // what was printed to standard output so far comes first
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
