import TallyCore

/// What `body` was refused for (`IngestionError.error`, the text naming the field); "" when it was not refused.
func refusal(_ body: () throws -> Void) -> String {
    do {
        try body()
        return ""
    } catch let e as IngestionError {
        return e.error ?? ""
    } catch {
        return "\(error)"
    }
}
