import TallyCore

/// The model-call counters as an OTLP metrics export (cumulative temporality): per project one ResourceMetrics
/// (resource attributes `service.name` = tally, `tally.project.id`, `tally.project.name`) with
///   - `llm.requests` (Sum of int, unit `{request}`), `llm.tokens` (Sum of int, `{token}`, with `gen_ai.token.type`),
///     `llm.cost_usd` (Sum of double, `USD`), attributes `deployment.environment.name`, `tenant.id`, `feature`,
///     `gen_ai.request.model`, `outcome`;
///   - `llm.request.duration` (Histogram, `s`, LLMMetrics.durationBounds), attributes
///     `deployment.environment.name`, `gen_ai.request.model`, `outcome`.
/// The values are the same figures /metrics shows (cost from integer nano-USD).
public enum OTLPMetricsEncoder {
    public struct ProjectMetrics: Sendable {
        public var projectID: String
        public var projectName: String
        /// When the counters started: the project's creation (they count from its first call, and survive restarts).
        public var start: Timestamp
        public var metrics: LLMMetrics

        public init(projectID: String, projectName: String, start: Timestamp, metrics: LLMMetrics) {
            self.projectID = projectID
            self.projectName = projectName
            self.start = start
            self.metrics = metrics
        }
    }

    public static func request(_ projects: [ProjectMetrics], now: Timestamp, version: String)
        -> OTLPExportMetricsServiceRequest
    {
        var request = OTLPExportMetricsServiceRequest()
        for project in projects {
            var resource = OTLPResourceMetrics()
            resource.resource.attributes = [
                attribute("service.name", "tally"), attribute("tally.project.id", project.projectID),
                attribute("tally.project.name", project.projectName),
            ]
            var scope = OTLPScopeMetrics()
            scope.scope.name = "tally"
            scope.scope.version = version
            let start = nanos(project.start)
            let time = nanos(now)
            let m = project.metrics
            let keys = m.sortedSeriesKeys
            func point(_ k: LLMMetrics.SeriesKey, extra: [OTLPKeyValue] = [], _ value: OTLPNumberDataPoint.OneOf_Value)
                -> OTLPNumberDataPoint
            {
                var p = OTLPNumberDataPoint()
                p.value = value
                p.attributes =
                    [
                        attribute("deployment.environment.name", k.environment), attribute("tenant.id", k.tenant),
                        attribute("feature", k.feature), attribute("gen_ai.request.model", k.model),
                        attribute("outcome", k.outcome.rawValue),
                    ] + extra
                p.startTimeUnixNano = start
                p.timeUnixNano = time
                return p
            }
            func sum(_ name: String, _ unit: String, _ description: String, _ points: [OTLPNumberDataPoint])
                -> OTLPMetric
            {
                var metric = OTLPMetric()
                metric.name = name
                metric.unit = unit
                metric.description_p = description
                var s = OTLPSum()
                s.aggregationTemporality = .cumulative
                s.isMonotonic = true
                s.dataPoints = points
                metric.sum = s
                return metric
            }
            scope.metrics.append(
                sum(
                    "llm.requests", "{request}", "Model calls (generations and embeddings), by the model requested.",
                    keys.map { point($0, .asInt(m.series[$0]!.requests)) }))
            scope.metrics.append(
                sum(
                    "llm.tokens", "{token}",
                    "Tokens of model calls by gen_ai.token.type (cache_read, cache_write and reasoning are parts of input and output).",
                    keys.flatMap { k in
                        m.series[k]!.tokensByType.map { type, tokens in
                            point(k, extra: [attribute("gen_ai.token.type", type)], .asInt(tokens))
                        }
                    }))
            scope.metrics.append(
                sum(
                    "llm.cost_usd", "USD", "Cost of model calls in USD.",
                    keys.map { point($0, .asDouble(Money.usd(nanos: m.series[$0]!.costNanos))) }))
            var histogram = OTLPHistogram()
            histogram.aggregationTemporality = .cumulative
            histogram.dataPoints = m.sortedLatencyKeys.map { k in
                let h = m.latency[k]!
                var p = OTLPHistogramDataPoint()
                p.attributes = [
                    attribute("deployment.environment.name", k.environment),
                    attribute("gen_ai.request.model", k.model), attribute("outcome", k.outcome.rawValue),
                ]
                p.startTimeUnixNano = start
                p.timeUnixNano = time
                p.explicitBounds = LLMMetrics.durationBounds
                p.bucketCounts = h.counts.map { UInt64(max($0, 0)) }
                p.count = UInt64(max(h.count, 0))
                p.sum = h.sumSeconds
                return p
            }
            var duration = OTLPMetric()
            duration.name = "llm.request.duration"
            duration.unit = "s"
            duration.description_p = "Duration of model calls (end minus start), by the model requested and outcome."
            duration.histogram = histogram
            scope.metrics.append(duration)
            resource.scopeMetrics = [scope]
            request.resourceMetrics.append(resource)
        }
        return request
    }

    static func attribute(_ key: String, _ value: String) -> OTLPKeyValue {
        var kv = OTLPKeyValue()
        kv.key = key
        kv.value.stringValue = value
        return kv
    }

    static func nanos(_ t: Timestamp) -> UInt64 { UInt64(max(t.microseconds, 0)) &* 1000 }
}
