//! The store conformance suite on DynamoDB in the emulator: the same cases as on SQLite.

#[path = "../../../shared/tests/conformance/cases.rs"]
#[macro_use]
pub(crate) mod cases;

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

/// A table written before the admin count existed: the first removal of an admin counts the
/// active admins (GSI1) and goes on from there, instead of refusing every removal for good.
#[tokio::test]
async fn a_table_without_the_admin_count_counts_its_admins_once() {
    use shared::{
        domain::{AccountStatus, EmailAddress, PasswordHash, Profile, Role, User, UserId},
        ports::{AccountStore, StoreError},
    };
    let table = crate::emulator::Table::create().await;
    let store = table.store();
    let admin = |email: &str| {
        let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        User {
            id: UserId::generate(),
            email: EmailAddress::parse(email).unwrap(),
            role: Role::Admin,
            status: AccountStatus::Active,
            profile: Profile { first_name: "Ada".into(), last_name: "Lovelace".into(), nickname: None, bio: None },
            password_hash: Some(PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into())),
            email_confirmed_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
            credential_version: 0,
            reset_generation: 0,
            photo_id: None,
            photo_upload: None,
            photo_status: None,
            photo_error: None,
            known_devices: Vec::new(),
            identities: Vec::new(),
            pending_email: None,
            factors: Default::default(),
            access_version: 0,
        }
    };
    let (grace, ada) = (admin("grace@example.com"), admin("ada@example.com"));
    store.create_account(&grace).await.unwrap();
    store.create_account(&ada).await.unwrap();
    // As an older deployment's table: no count item.
    table
        .client
        .delete_item()
        .table_name(&table.name)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S("ADMINS".into()))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("COUNT".into()))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // GSI1 catches up

    assert!(matches!(store.delete_account(&grace).await, Err(StoreError::Conflict)), "counted, to be tried again");
    store.delete_account(&grace).await.expect("two admins counted: one may go");
    assert!(matches!(store.delete_account(&ada).await, Err(StoreError::LastAdmin)), "not the last one");
}
