import ArgumentParser
import Foundation
import XCTest

@testable import efsearch

/// Help that teaches: every command's `--help` has examples that are real command lines, defaults read as a user
/// writes them, and `efsearch` alone prints a tour whose commands parse.
final class HelpCLITests: XCTestCase {
    /// Every command and subcommand under `efsearch`, with its path of names.
    static func commands(_ command: ParsableCommand.Type = Efsearch.self, path: [String] = []) -> [(path: [String], type: ParsableCommand.Type)] {
        command.configuration.subcommands.flatMap { sub -> [(path: [String], type: ParsableCommand.Type)] in
            let name = sub.configuration.commandName ?? sub._commandName
            return [(path + [name], sub)] + commands(sub, path: path + [name])
        }
    }

    /// The words of a shell line, up to a comment or `&&`: single and double quotes group, nothing is expanded.
    static func words(_ line: String) -> [String] {
        var words: [String] = [], word = "", inWord = false
        var quote: Character?
        for character in line {
            if let open = quote {
                if character == open { quote = nil } else { word.append(character) }
                continue
            }
            if character == "'" || character == "\"" { quote = character; inWord = true; continue }
            if character == " " {
                if inWord { words.append(word); word = ""; inWord = false }
                continue
            }
            if character == "#" && !inWord { break }
            word.append(character)
            inWord = true
        }
        if inWord { words.append(word) }
        if let and = words.firstIndex(of: "&&") { words.removeSubrange(and...) }
        return words
    }

    /// The `efsearch ...` lines of a text, as argument lists (without the leading `efsearch`).
    static func commandLines(in text: String) -> [[String]] {
        text.split(separator: "\n").compactMap { line in
            let words = words(line.trimmingCharacters(in: .whitespaces))
            return words.first == "efsearch" ? Array(words.dropFirst()) : nil
        }
    }

    func testEveryCommandHasExamplesThatParse() throws {
        let commands = Self.commands()
        XCTAssertGreaterThanOrEqual(commands.count, 22)
        var parsed = 0
        for (path, type) in commands {
            let help = Efsearch.helpMessage(for: type, columns: 200)
            guard let examples = help.range(of: "Examples:") else {
                XCTFail("efsearch \(path.joined(separator: " ")) --help has no examples")
                continue
            }
            let lines = Self.commandLines(in: String(help[examples.upperBound...]))
                .filter { !$0.isEmpty && !$0[0].hasPrefix("-") }
            XCTAssertFalse(lines.isEmpty, "efsearch \(path.joined(separator: " ")): no example command line")
            for arguments in lines {
                XCTAssertNoThrow(try Efsearch.parseAsRoot(arguments), "example of \(path.joined(separator: " ")) does not parse: efsearch \(arguments.joined(separator: " "))")
                parsed += 1
            }
        }
        XCTAssertGreaterThan(parsed, 40)
    }

    /// Defaults are shown as they are typed: `60` and `1`, never `60.0`, `5e-05` or an enum case's Swift spelling.
    func testDefaultsAreShownAsUsersWriteThem() throws {
        var defaults = 0
        for (path, type) in Self.commands() {
            let help = Efsearch.helpMessage(for: type, columns: 400)
            var rest = help[...]
            while let range = rest.range(of: "(default: ") {
                let value = rest[range.upperBound...].prefix { $0 != ")" && $0 != "\n" }
                defaults += 1
                for wrong in [".0", "e-0", "("] {
                    XCTAssertFalse(value.hasSuffix(wrong) || (wrong == "(" && value.contains(wrong)),
                                   "efsearch \(path.joined(separator: " ")) --help shows (default: \(value))")
                }
                rest = rest[range.upperBound...]
            }
        }
        XCTAssertGreaterThan(defaults, 50)
        let onnx = Efsearch.helpMessage(for: Efsearch.Onnx.self, columns: 400)
        XCTAssertTrue(onnx.contains("a number, or dynamic. (default: 1)"), onnx)
        let worker = Efsearch.helpMessage(for: Efsearch.Worker.self, columns: 400)
        XCTAssertTrue(worker.contains("(default: 60)"), worker)
    }

    /// `Amount` keeps the value of the type it wraps, to the bit, and prints it as written.
    func testAmountParsesAsItsValueTypeAndPrintsAsWritten() throws {
        for text in ["5e-5", "0.05", "0.1", "1e-3", "3.4028235e38", "60", "-0"] {
            XCTAssertEqual(Amount<Float>(argument: text)?.value.bitPattern, Float(text)!.bitPattern, text)
            XCTAssertEqual(Amount<Double>(argument: text)?.value.bitPattern, Double(text)!.bitPattern, text)
        }
        XCTAssertEqual((5e-5 as Amount<Float>).value.bitPattern, (5e-5 as Float).bitPattern)
        XCTAssertEqual((5e-5 as Amount<Float>).description, "5e-5")
        XCTAssertEqual((60 as Amount<Double>).description, "60")
        XCTAssertEqual((0.25 as Amount<Double>).description, "0.25")
        XCTAssertNil(Amount<Double>(argument: "soon"))
    }

    func testTheTourParsesAndIsPrintedWithoutArguments() throws {
        let lines = Self.commandLines(in: Efsearch.tour)
        XCTAssertGreaterThanOrEqual(lines.count, 8)
        for arguments in lines {
            XCTAssertNoThrow(try Efsearch.parseAsRoot(arguments), "tour line does not parse: efsearch \(arguments.joined(separator: " "))")
        }
        let result = try CLITests.execute([])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, Efsearch.tour + "\n")
    }

    func testShellWordsOfAnExample() {
        XCTAssertEqual(Self.words("efsearch estimate --arch 'a;b c' --x \"y z\"   # comment"), ["efsearch", "estimate", "--arch", "a;b c", "--x", "y z"])
        XCTAssertEqual(Self.words("efsearch report r --out o/ && xdg-open o/report.html"), ["efsearch", "report", "r", "--out", "o/"])
    }
}
