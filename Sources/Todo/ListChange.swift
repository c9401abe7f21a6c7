/// What a list's server sends every replica: the records a change touched (a write, or a
/// whole copy when merging one in) and the list's id counter. A replica merges it into its
/// copy (`TodoList.apply`), so changes may arrive twice, late or out of order and every copy
/// still ends the same. A store costs the change, not the whole list.
public struct ListChange: Hashable, Sendable, Codable {
    public let nextCounter: Int
    public let records: [EntryRecord]

    public init(nextCounter: Int, records: [EntryRecord]) {
        self.nextCounter = nextCounter
        self.records = records
    }
}
