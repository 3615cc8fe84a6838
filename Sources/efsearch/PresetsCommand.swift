import Architecture
import ArgumentParser

extension Efsearch {
    /// `efsearch presets`: lists the preset networks.
    struct Presets: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the preset networks.",
            discussion: """
            Examples:
              efsearch presets
              efsearch estimate efficientnetv2-s        # any preset's costs
            """)

        func run() throws {
            for preset in Architecture.Presets.all {
                print(preset.name.padding(toLength: 18, withPad: " ", startingAt: 0) + preset.summary)
            }
        }
    }
}
