import Foundation
import Store

/// Opens the store a `--store` value names: an SQLite file (created when missing, unless `readOnly`), or a
/// PostgreSQL database. `readOnly`: commands that only read (`runs`, `export`, `report`, ...) write nothing to an
/// SQLite file, not even a schema upgrade.
public func openStore(_ text: String, readOnly: Bool = false) throws -> any Store {
    switch try StoreLocation(parsing: text) {
    case .sqlite(let path): try SQLiteStore(path: path, readOnly: readOnly)
    case .postgres(let address): try PostgresStore(address: address)
    }
}
