import Foundation
import Testing

@testable import TallyServer

@Suite("Call log file")
struct CallLogSinkTests {
    @Test("appends whole lines, rotates past the size cap keeping N files, and reports an unwritable path")
    func rotation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calllog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("calls.log").path
        let sink = CallLogSink(configuration: .init(path: path, maxBytes: 100, keep: 2))
        let line = String(repeating: "x", count: 39) + "\n"  // 40 bytes
        for _ in 0..<7 { #expect(sink.write(line)) }
        // 7 lines of 40 bytes, at most 2 per 100-byte file: calls.log holds the newest, .1 and .2 the two before.
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files == ["calls.log", "calls.log.1", "calls.log.2"])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == line)
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8) == line + line)
        // A path whose folder does not exist cannot be written: the caller counts the lines as dropped.
        let lost = CallLogSink(configuration: .init(path: dir.appendingPathComponent("no/such/dir.log").path))
        #expect(!lost.write(line))
        // Appending to an existing file continues it (a restart keeps the earlier lines).
        let reopened = CallLogSink(configuration: .init(path: path, maxBytes: 100, keep: 2))
        #expect(reopened.write(line))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == line + line)
    }
}
