import Cluster

/// Part of a list (`TodoList.part`, `TodoStore.part`): its records as a list of their own,
/// whether they are all that came after the part's start (`complete`), and their size on the
/// wire.
struct ListPart {
    let list: TodoList
    let complete: Bool
    let bytes: Int

    /// Takes records in id order while they fit in `maxBytes` on the wire, the first whatever
    /// its size. Each record is measured alone: the part is encoded whole only when sent.
    struct Gathering {
        let maxBytes: Int
        private var records: [EntryRecord] = []
        private var bytes = 0

        init(maxBytes: Int) { self.maxBytes = maxBytes }

        /// Takes `record` when it fits; false (and not taken) when it does not.
        mutating func take(_ record: EntryRecord) -> Bool {
            var writer = WireWriter()
            record.encode(to: &writer)
            if !records.isEmpty, bytes + writer.bytes.count > maxBytes { return false }
            bytes += writer.bytes.count
            records.append(record)
            return true
        }

        func part(nextCounter: Int, complete: Bool) -> ListPart {
            ListPart(list: TodoList(nextCounter: nextCounter, records: records), complete: complete, bytes: bytes)
        }
    }
}
