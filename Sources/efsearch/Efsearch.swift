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
        subcommands: [Estimate.self, Scale.self, Presets.self, Machine.self, Calibrate.self, Init.self, Infer.self, Onnx.self, Bench.self, Train.self, Eval.self, Nas.self, Worker.self, Grid.self, Runs.self, Frontier.self, Show.self, Export.self, Report.self, Proxies.self, ProxyCheck.self, StoreGroup.self]
    )

    /// Runs a command; bad input (a parse or validation error, or a `UserInputError`) exits with status 2.
    static func main() {
        // OpenBLAS picks its kernels when it loads; on a CPU newer than the library it falls back to SSE3 ones.
        BLAS.chooseBetterCore()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as UserInputError {
            Console.error("\(error)")
            Foundation.exit(2)
        } catch let error as StoreError {
            // A store that cannot be opened, is damaged or refuses a write: named, never a crash or a row dump.
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

enum EfsearchVersion {
    static let current = "0.1.0"
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
