import Foundation
import Store

/// Opens the store a `--store` value names: an SQLite file (created when missing), or a PostgreSQL database.
public func openStore(_ text: String) throws -> any Store {
    switch try StoreLocation(parsing: text) {
    case .sqlite(let path): try SQLiteStore(path: path)
    case .postgres(let address): try PostgresStore(address: address)
    }
}
