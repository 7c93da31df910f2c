//! The store conformance suite on DynamoDB in the emulator: the same cases as on SQLite.

#[path = "../../../shared/tests/conformance/cases.rs"]
#[macro_use]
mod cases;

macro_rules! on_dynamodb {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let table = crate::emulator::Table::create().await;
                cases::$case(std::sync::Arc::new(table.store())).await;
            }
        )*
    };
}

for_each_case!(on_dynamodb);
