import Architecture
import Foundation
@testable import Search
import XCTest

final class ShippedSpacesTests: XCTestCase {
    /// The built-in copies are the files in `searchspaces/`, to the byte, and every file there is built in.
    func testBuiltInTextsAreTheShippedFiles() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: searchSpaces.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertEqual(ShippedSpaces.texts.map(\.file).sorted(), files)
        for (file, yaml) in ShippedSpaces.texts {
            XCTAssertEqual(yaml, try String(contentsOf: searchSpaces.appendingPathComponent(file), encoding: .utf8), file)
        }
        XCTAssertEqual(try ShippedSpaces.spaces().map(\.name), ["tiny", "efficientnet-b0", "efficientnetv2"])
    }

    /// A calibration's pool takes the spaces in turn and never holds a network that a check with the excluded
    /// seed draws, for any check size up to the excluded count.
    func testCalibrationPoolPassesOverTheChecksNetworks() throws {
        let spaces = try ShippedSpaces.spaces()
        func key(_ n: Network) -> String { "\(n.archString)|\(n.resolution)|\(n.stemChannels)|\(n.headChannels)" }
        let pool = SearchSpace.calibrationPool(spaces, count: 60, seed: 0, excludedSeed: 1234, excluded: 40)
        let checked = Set(spaces.flatMap { $0.sampleNetworks(count: 40, seed: 1234) }.map(key))
        XCTAssertFalse(pool.contains { checked.contains(key($0)) })
        // The tiny space is small: some of its 60 drawn networks are among the check's and were passed over.
        XCTAssertLessThan(pool.count, 180)
        XCTAssertGreaterThan(pool.count, 150)
        XCTAssertEqual(pool[0].resolution, 32, "the tiny space first")
        XCTAssertEqual(pool[1].resolution, 224, "then the B0 space")
        XCTAssertTrue((128...256).contains(pool[2].resolution), "then the V2 space")
        // A check with its own seed draws a prefix of a longer check's networks, which the exclusion relies on.
        XCTAssertEqual(spaces[0].sampleNetworks(count: 10, seed: 1234).map(key), Array(spaces[0].sampleNetworks(count: 40, seed: 1234).map(key).prefix(10)))
    }
}
