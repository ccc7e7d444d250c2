import Foundation
import GRDB
import TallyCore
import TallyStoreAPI

/// The JSON columns' mapping, shared with the PostgreSQL store (TallyStoreAPI).
typealias Rows = StoredJSON

extension Trace {
    init(row: Row) {
        self.init(
            id: row["id"], timestamp: Timestamp(microseconds: row["timestamp"]), environment: row["environment"],
            isPlaceholder: row["is_placeholder"])
        name = row["name"]
        userID = row["user_id"]
        sessionID = row["session_id"]
        release = row["release"]
        version = row["version"]
        input = StoredContent.decode(row["input"])
        output = StoredContent.decode(row["output"])
        metadata = Rows.object(row["metadata"])
        tags = Rows.strings(row["tags"])
        isPublic = row["public"]
        bookmarked = row["bookmarked"]
        externalID = row["external_id"]
        tenant = row["tenant"]
        feature = row["feature"]
        eventTime = Rows.time(row["event_time"])
        createdAt = Rows.time(row["created_at"])
        updatedAt = Rows.time(row["updated_at"])
    }
}

extension Observation {
    init(row: Row) {
        self.init(
            id: row["id"], traceID: row["trace_id"], type: ObservationType(rawValue: row["type"]) ?? .span,
            startTime: Timestamp(microseconds: row["start_time"]), isPlaceholder: row["is_placeholder"])
        parentObservationID = row["parent_observation_id"]
        name = row["name"]
        endTime = Rows.time(row["end_time"])
        completionStartTime = Rows.time(row["completion_start_time"])
        model = row["model"]
        responseModel = row["response_model"]
        modelParameters = StoredContent.decode(row["model_parameters"])
        input = StoredContent.decode(row["input"])
        output = StoredContent.decode(row["output"])
        metadata = Rows.object(row["metadata"])
        level = ObservationLevel(rawValue: row["level"]) ?? .default
        statusMessage = row["status_message"]
        version = row["version"]
        environment = row["environment"]
        promptName = row["prompt_name"]
        promptVersion = row["prompt_version"]
        usage = Rows.usage(row["usage_details"])
        providedCost = Rows.cost(row["provided_cost_details"])
        if (row["cost_source"] as String?) == "inferred" {
            inferredCost = Rows.cost(row["cost_details"])
            pricedModelID = row["priced_model_id"]
            pricingTier = row["pricing_tier"]
            unitPrices = Rows.cost(row["unit_prices"])
        }
        savingsNanos = row["savings_nanos"]
        tenant = row["tenant"]
        feature = row["feature"]
        eventTime = Rows.time(row["event_time"])
        createdAt = Rows.time(row["created_at"])
        updatedAt = Rows.time(row["updated_at"])
    }
}

extension Score {
    init(row: Row) {
        self.init(
            id: row["id"], name: row["name"], value: row["value"], stringValue: row["string_value"],
            dataType: ScoreDataType(rawValue: row["data_type"]) ?? .numeric,
            source: ScoreSource(rawValue: row["source"]) ?? .api, environment: row["environment"],
            timestamp: Timestamp(microseconds: row["timestamp"]))
        traceID = row["trace_id"]
        observationID = row["observation_id"]
        sessionID = row["session_id"]
        datasetRunID = row["dataset_run_id"]
        comment = row["comment"]
        metadata = Rows.jsonValue(row["metadata"])
        configID = row["config_id"]
        queueID = row["queue_id"]
        createdAt = Rows.time(row["created_at"])
        updatedAt = Rows.time(row["updated_at"])
    }
}

extension Session {
    init(row: Row) {
        self.init(id: row["id"], createdAt: Timestamp(microseconds: row["created_at"]), environment: row["environment"])
    }
}
