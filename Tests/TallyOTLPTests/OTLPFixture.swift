import Foundation
import TallyCore

@testable import TallyOTLP

enum OTLPFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/otlp")

    static func data(_ name: String) throws -> Data { try Data(contentsOf: root.appendingPathComponent(name)) }

    static func views(_ name: String) throws -> [SpanView] {
        let codec: OTLPCodec = name.hasSuffix(".json") ? .json : .protobuf
        let request = try OTLPDecoder.decode(try data(name), codec: codec)
        return SpanViewBuilder.views(of: request, receivedAt: Timestamp(microseconds: 0)).spans
    }

    static func observations(_ name: String) throws -> [ObservationUpsert] {
        try views(name).flatMap { try OTLPSpanMapper().events(for: $0) }.compactMap { event in
            if case .observation(let o) = event.body { return o }
            return nil
        }
    }

    /// Observation and trace upserts per span name (the last span of a name wins).
    static func mapped(_ name: String) throws -> (
        observations: [String: ObservationUpsert], traces: [String: [TraceUpsert]]
    ) {
        var observations: [String: ObservationUpsert] = [:]
        var traces: [String: [TraceUpsert]] = [:]
        for view in try views(name) {
            for event in try OTLPSpanMapper().events(for: view) {
                switch event.body {
                case .observation(let o): observations[view.name] = o
                case .trace(let t): traces[view.name, default: []].append(t)
                default: break
                }
            }
        }
        return (observations, traces)
    }
}
