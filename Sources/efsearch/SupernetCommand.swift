import ArgumentParser
import Architecture
import Supernet
import Training

extension Efsearch {
    /// `efsearch supernet`: one-shot search's weight-sharing supernet.
    struct SupernetGroup: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "supernet", abstract: "Train a weight-sharing supernet of a search space, and extract candidates from it.",
            discussion: """
            Examples:
              efsearch supernet train --space searchspaces/tiny.yaml --dataset mnist:data/digits --no-flip --epochs 6 --out tiny.supernet
              efsearch nas --space searchspaces/tiny.yaml --dataset mnist:data/digits --fidelity supernet:tiny.supernet --budget 1000
            """, subcommands: [Train.self, Extract.self])

        struct Train: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Train a supernet: the largest candidate first, then the sandwich rule with in-place distillation (docs/supernet.md).",
                discussion: """
                Examples:
                  efsearch supernet train --space searchspaces/tiny.yaml --dataset mnist:data/digits --no-flip --epochs 6 --out tiny.supernet
                  efsearch supernet train --space searchspaces/tiny.yaml --dataset mnist:data/digits --no-flip --epochs 6 --out tiny.supernet --resume
                """)
            @Option(help: "The search space (YAML).") var space: String
            @OptionGroup var data: DatasetOptions
            @Option(help: "Epochs in all.") var epochs: Int = 10
            @Option(name: .customLong("largest-epochs"), help: "Epochs of the largest candidate alone, before channels are sorted and the sandwich rule starts.") var largestEpochs: Int = 1
            @Option(name: .customLong("random-candidates"), help: "Random candidates per step beside the largest and the smallest.") var randomCandidates: Int = 2
            @Flag(name: .customLong("no-distill"), help: "Train the smaller candidates on the labels instead of the largest's predictions.") var noDistill = false
            @Option(help: "Batch size.") var batch: Int = 64
            @Option(help: "Peak learning rate (SGD with Nesterov momentum, cosine schedule).") var lr: Float = 0.05
            @Option(help: "Seed of the weights, the batch order, the augmentation and the sampled candidates.") var seed: UInt64 = 0
            @OptionGroup var threads: ThreadOptions
            @Option(help: "The supernet file to write after every epoch (.safetensors).") var out: String
            @Flag(help: "Continue --out where it stopped (a killed run), with its own recipe.") var resume = false
            @Flag(help: "Print one JSON object at the end.") var json = false

            var recipe: SupernetRecipe {
                SupernetRecipe(epochs: epochs, largestEpochs: largestEpochs, randomCandidates: randomCandidates, distill: !noDistill, batch: batch, learningRate: lr, seed: seed)
            }

            func validate() throws { do { try recipe.validate() } catch { throw ValidationError("\(error)") } }

            func run() throws {
                threads.install()
                let dataset = try data.load(quiet: json)
                let bar = ProgressBar("supernet")
                let summary = try SupernetRun.train(spacePath: space, dataset: dataset, recipe: recipe, out: out, resume: resume, note: { if !json { Console.note($0) } }) { epoch, step, steps, loss in
                    bar.report(Double(epoch * steps + step), Double(epochs * steps), "epoch \(epoch + 1), loss \(Format.fixed(loss, 4))")
                }
                bar.finish()
                print(json ? summary.json : summary.text)
            }
        }

        struct Extract: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Score a candidate with the supernet's weights and write it as a stand-alone checkpoint (timm's layout).",
                discussion: """
                The candidate is the space's base network with --arch, --width, ... as given (stem, head and resolution the space's unless given).

                Examples:
                  efsearch supernet extract --supernet tiny.supernet --dataset mnist:data/digits --no-flip --width 0.75 --out c.safetensors
                """)
            @Option(help: "The supernet file.") var supernet: String
            @OptionGroup var network: NetworkOptions
            @OptionGroup var data: DatasetOptions
            @Option(name: .customLong("calibration-batches"), help: "Training batches that recalibrate batch norm's statistics.") var calibrationBatches: Int = 10
            @Option(help: "The checkpoint to write (.safetensors).") var out: String
            @OptionGroup var threads: ThreadOptions
            @Flag(help: "Print one JSON object.") var json = false

            func run() throws {
                threads.install()
                let scoring = SupernetScoring(batches: calibrationBatches, batchSize: 64, seed: 0)
                try scoring.validate()
                let extraction = try SupernetRun.extract(supernet: supernet, spec: { try network.spec(base: $0) }, name: network.arch ?? network.preset ?? "the space's base",
                                                         dataset: try data.load(quiet: json), scoring: scoring, out: out)
                print(json ? extraction.json : extraction.text)
            }
        }
    }
}
