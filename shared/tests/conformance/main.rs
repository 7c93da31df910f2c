//! The store conformance suite on the embedded adapter (SQLite). It needs no AWS emulator;
//! the same cases run on DynamoDB in `aws/tests/aws/store_conformance.rs`.

#[macro_use]
mod cases;

macro_rules! on_sqlite {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let dir = tempfile::tempdir().unwrap();
                let store = shared::adapters::SqliteDb::open(&dir.path().join("store.sqlite3")).unwrap();
                cases::$case(std::sync::Arc::new(store)).await;
            }
        )*
    };
}

for_each_case!(on_sqlite);
