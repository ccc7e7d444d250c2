import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SwiftProtobuf
import TallyCore
import TallyOTLP
import TallyStoreAPI

/// Where and how often the model-call metrics are pushed as OTLP/HTTP (`--otlp-metrics-endpoint`).
public struct OTLPMetricsConfiguration: Sendable {
    /// The full URL posted to (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as is, with its path).
    public var endpoint: String
    /// Extra request headers (e.g. an API key), from OTEL_EXPORTER_OTLP_METRICS_HEADERS.
    public var headers: [(String, String)]
    public var interval: Duration = .seconds(60)
    public var timeout: TimeAmount = .seconds(10)

    public init(endpoint: String, headers: [(String, String)] = []) {
        self.endpoint = endpoint
        self.headers = headers
    }

    /// OTEL_EXPORTER_OTLP_*_HEADERS: `key1=value1,key2=value2`, values percent-decoded (the OpenTelemetry rule).
    public static func headers(_ text: String?) throws -> [(String, String)] {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return [] }
        return try text.split(separator: ",").map { pair in
            guard let eq = pair.firstIndex(of: "=") else {
                throw OTLPMetricsConfigurationError(message: "OTLP metrics header without '=': \(pair)")
            }
            let key = pair[..<eq].trimmingCharacters(in: .whitespaces)
            let raw = pair[pair.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, let value = raw.removingPercentEncoding else {
                throw OTLPMetricsConfigurationError(message: "malformed OTLP metrics header: \(pair)")
            }
            return (key, value)
        }
    }
}

public struct OTLPMetricsConfigurationError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Pushes every project's model-call counters (`OTLPMetricsEncoder`) every interval, and once more at graceful
/// shutdown. Cumulative values read from the store, so a failed push loses nothing: the next carries the totals.
/// A receiver that refuses or hangs costs at most `timeout` per push and never touches ingestion.
struct OTLPMetricsService: Service {
    let database: any TallyStorage
    let configuration: OTLPMetricsConfiguration
    let limits: LLMMetrics.Limits
    let logger: Logger
    /// Pushes answered 2xx and pushes that failed, since start.
    let counters: PushCounters

    func run() async throws {
        while await pauseUnlessShuttingDown(configuration.interval) {
            await pushOnce()
        }
        await pushOnce()  // the last figures before stopping
    }

    func pushOnce() async {
        do {
            let projects = try await database.projects()
            var payload: [OTLPMetricsEncoder.ProjectMetrics] = []
            for p in projects {
                payload.append(
                    .init(
                        projectID: p.id, projectName: p.name, start: p.createdAt,
                        metrics: try await database.llmMetrics(projectID: p.id, limits: limits, now: .now())))
            }
            let body: [UInt8] = try OTLPMetricsEncoder.request(
                payload, now: .now(), version: TallyVersion.current
            ).serializedBytes()
            var request = HTTPClientRequest(url: configuration.endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-protobuf")
            request.headers.add(name: "User-Agent", value: "Tally/\(TallyVersion.current)")
            for (name, value) in configuration.headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await HTTPClient.shared.execute(request, timeout: configuration.timeout)
            _ = try? await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(Int(response.status.code)) else {
                throw OTLPMetricsConfigurationError(message: "HTTP \(response.status.code)")
            }
            counters.record(success: true)
        } catch {
            counters.record(success: false)
            if counters.warnings.allow() {
                logger.warning(
                    "OTLP metrics push failed; the next push carries the totals",
                    metadata: ["endpoint": "\(configuration.endpoint)", "cause": "\(error)"])
            }
        }
    }
}

/// Push outcomes since start, for /metrics.
final class PushCounters: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var succeeded = 0
    private var failed = 0
    let warnings = WarningThrottle()

    func record(success: Bool) { lock.withLock { if success { succeeded += 1 } else { failed += 1 } } }
    var snapshot: (succeeded: Int, failed: Int) { lock.withLock { (succeeded, failed) } }
}
