//! The stores' behaviour, written once against the ports and run on every adapter: SQLite
//! here (`shared/tests/conformance`, no emulator needed) and DynamoDB on the AWS emulator
//! (`aws/tests/aws/store_conformance.rs` includes this file).

use std::sync::Arc;

use shared::{
    domain::{AccountStatus, EmailAddress, PasswordHash, Profile, Role, Status, Suspension, User, UserId},
    pagination::CursorSigner,
    ports::{
        ACTIVITY_RETENTION, AccountFilter, AccountStore, ActivityEntry, ActivityKind, ActivityStore, AttemptPolicy,
        AuditRecord, CheckKey, CheckPolicies, CheckReservation, DeliveryClaim, Edge, EdgeAdded, EdgeKind, Finished,
        Flag, IdRange, LimitStore, ModerationAction, ModerationError, ModerationStore, Notification, NotificationStore,
        OneTimeToken, PasswordCheck, RecordFilter, Report, Rotation, Segment, SegmentPosition, Session, SessionStore,
        Side, SocialStore, StoreError, TokenKind, TokenStore,
    },
};
use time::{Duration, OffsetDateTime};

/// An adapter of every store port, as both adapters are.
pub trait Stores:
    AccountStore
    + SessionStore
    + TokenStore
    + LimitStore
    + ModerationStore
    + SocialStore
    + NotificationStore
    + ActivityStore
    + 'static
{
}
impl<T> Stores for T where
    T: AccountStore
        + ActivityStore
        + SessionStore
        + TokenStore
        + LimitStore
        + ModerationStore
        + SocialStore
        + NotificationStore
        + 'static
{
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

pub fn user(email: &str) -> User {
    let now = now();
    User {
        id: UserId::generate(),
        email: EmailAddress::parse(email).unwrap(),
        role: Role::Reader,
        status: AccountStatus::Active,
        profile: Profile {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            nickname: Some("ada".into()),
            bio: None,
        },
        password_hash: Some(PasswordHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into())),
        email_confirmed_at: None,
        created_at: now,
        updated_at: now,
        version: 0,
        credential_version: 0,
        reset_generation: 0,
        pending_email: None,
        factors: Default::default(),
        access_version: 0,
        photo_id: None,
        photo_upload: None,
        photo_status: None,
        photo_error: None,
        known_devices: Vec::new(),
        identities: Vec::new(),
    }
}

fn session(user: &UserId, id: &str, hash: &str) -> Session {
    Session {
        id: id.into(),
        user_id: user.clone(),
        refresh_hash: hash.into(),
        created_at: now(),
        expires_at: now() + Duration::days(30),
        credential_version: 0,
        access_version: 0,
        previous_hashes: Vec::new(),
        rotated_at: None,
        amr: vec!["pwd".into()],
        source: None,
        device: None,
        seen_at: None,
        proved_at: None,
    }
}

/// A new account, for the sessions that need one.
async fn account(store: &Arc<impl Stores>) -> UserId {
    let account = user(&format!("{}@example.com", uuid::Uuid::now_v7().simple()));
    store.create_account(&account).await.unwrap();
    account.id
}

/// The account as stored after one more write.
fn written(user: &User) -> User {
    User { version: user.version + 1, ..user.clone() }
}

pub async fn accounts_are_found_by_id_and_by_email_in_any_case(store: Arc<impl Stores>) {
    let ada = user("Ada@Example.com");
    store.create_account(&ada).await.unwrap();

    assert_eq!(store.account(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.account_by_email("ada@example.com").await.unwrap(), Some(ada.clone()));
    assert_eq!(store.account(&UserId::generate()).await.unwrap(), None);
    assert_eq!(store.account_by_email("nobody@example.com").await.unwrap(), None);
}

pub async fn an_email_in_another_case_is_taken(store: Arc<impl Stores>) {
    store.create_account(&user("ada@example.com")).await.unwrap();

    let again = store.create_account(&user("ADA@example.COM")).await;

    assert!(matches!(again, Err(StoreError::EmailTaken)), "{again:?}");
}

pub async fn twenty_concurrent_registrations_of_one_email_make_one_account(store: Arc<impl Stores>) {
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let candidate = user(if i % 2 == 0 { "race@example.com" } else { "Race@Example.com" });
            tokio::spawn(async move { store.create_account(&candidate).await })
        })
        .collect();
    let mut created = 0;
    let mut taken = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::EmailTaken) => taken += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((created, taken), (1, 19));
}

pub async fn an_email_change_moves_the_unique_email(store: Arc<impl Stores>) {
    let mut ada = user("ada@example.com");
    let grace = user("grace@example.com");
    store.create_account(&ada).await.unwrap();
    store.create_account(&grace).await.unwrap();

    ada.email = EmailAddress::parse("ada@new.example").unwrap();
    ada.profile.bio = Some("moved".into());
    store.update_account(&ada).await.unwrap();
    let ada = written(&ada);

    assert_eq!(store.account_by_email("ada@example.com").await.unwrap(), None);
    assert_eq!(store.account_by_email("ada@new.example").await.unwrap(), Some(ada.clone()));
    // The old address is free again.
    store.create_account(&user("ada@example.com")).await.unwrap();

    let mut stolen = ada.clone();
    stolen.email = EmailAddress::parse("GRACE@example.com").unwrap();
    assert!(matches!(store.update_account(&stolen).await, Err(StoreError::EmailTaken)));
    assert_eq!(store.account(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.account_by_email("grace@example.com").await.unwrap(), Some(grace));
}

pub async fn an_update_without_an_email_change_replaces_the_account(store: Arc<impl Stores>) {
    let mut ada = user("ada@example.com");
    store.create_account(&ada).await.unwrap();

    ada.status = AccountStatus::Suspended(Suspension { until: None, reason: None });
    ada.email_confirmed_at = Some(now());
    store.update_account(&ada).await.unwrap();

    assert_eq!(store.account_by_email("ada@example.com").await.unwrap(), Some(written(&ada)));
}

pub async fn an_update_from_a_stale_read_is_refused(store: Arc<impl Stores>) {
    let ada = user("ada@example.com");
    store.create_account(&ada).await.unwrap();
    // Twenty writers read version 0 and race; one wins, the others lost their read.
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let (store, mut copy) = (store.clone(), ada.clone());
            tokio::spawn(async move {
                copy.profile.bio = Some(format!("writer {i}"));
                store.update_account(&copy).await
            })
        })
        .collect();
    let (mut won, mut conflicts) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict) => conflicts += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((won, conflicts), (1, 19));
    assert_eq!(store.account(&ada.id).await.unwrap().unwrap().version, 1);
    // A stale write cannot put an old password hash back.
    let mut stale = ada.clone();
    stale.password_hash = Some(PasswordHash("old".into()));
    assert!(matches!(store.update_account(&stale).await, Err(StoreError::Conflict)));
}

pub async fn a_pending_registration_gives_its_address_to_a_new_one(store: Arc<impl Stores>) {
    let mut first = user("pending@example.com");
    first.status = AccountStatus::Pending;
    store.create_account(&first).await.unwrap();
    let mut second = user("pending@example.com");
    second.status = AccountStatus::Pending;

    store.create_account(&second).await.unwrap();

    assert_eq!(store.account(&first.id).await.unwrap(), None, "the first registration is gone");
    assert_eq!(store.account_by_email("pending@example.com").await.unwrap().unwrap().id, second.id);
    // Once confirmed, the address is held.
    second.status = AccountStatus::Active;
    store.update_account(&second).await.unwrap();
    assert!(matches!(store.create_account(&user("pending@example.com")).await, Err(StoreError::EmailTaken)));
}

pub async fn a_session_is_written_only_at_the_current_credential(store: Arc<impl Stores>) {
    let mut ada = user("ada@example.com");
    store.create_account(&ada).await.unwrap();
    store.create_session(&session(&ada.id, "before", "h"), None).await.unwrap();

    ada.credential_version += 1;
    store.update_account(&ada).await.unwrap();

    let stale = session(&ada.id, "late", "h");
    assert!(
        matches!(store.create_session(&stale, None).await, Err(StoreError::Conflict)),
        "a login that checked the old password"
    );
    assert_eq!(store.session(&ada.id, "late").await.unwrap(), None);
    let current = Session { credential_version: 1, ..session(&ada.id, "after", "h") };
    store.create_session(&current, None).await.unwrap();
    let nobody = session(&UserId::generate(), "orphan", "h");
    assert!(matches!(store.create_session(&nobody, None).await, Err(StoreError::Conflict)), "no account, no session");
}

pub async fn a_refresh_rotates_once_and_a_replay_is_told_apart(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    store.create_session(&session(&ada, "s1", "h1"), None).await.unwrap();
    let t = now();

    assert_eq!(store.session(&ada, "s1").await.unwrap().unwrap().refresh_hash, "h1");
    assert_eq!(store.session(&UserId::generate(), "s1").await.unwrap(), None, "another user's session");
    let history = vec!["h1".to_string()];
    assert_eq!(store.rotate_session(&ada, "s1", "h1", "h2", &history, t).await.unwrap(), Rotation::Rotated);
    assert_eq!(store.rotate_session(&ada, "s1", "h1", "h3", &history, t).await.unwrap(), Rotation::Stale);
    let rotated = store.session(&ada, "s1").await.unwrap().unwrap();
    assert_eq!((rotated.refresh_hash.as_str(), rotated.previous_hashes, rotated.rotated_at), ("h2", history, Some(t)));
    store.delete_session(&ada, "s1").await.unwrap();
    assert_eq!(store.rotate_session(&ada, "s1", "h2", "h3", &[], t).await.unwrap(), Rotation::Missing);
}

pub async fn concurrent_refreshes_with_one_token_rotate_once(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    store.create_session(&session(&ada, "s1", "h1"), None).await.unwrap();
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let (store, ada) = (store.clone(), ada.clone());
            tokio::spawn(async move {
                store.rotate_session(&ada, "s1", "h1", &format!("new{i}"), &["h1".to_string()], now()).await.unwrap()
            })
        })
        .collect();
    let mut rotated = 0;
    for attempt in attempts {
        rotated += usize::from(attempt.await.unwrap() == Rotation::Rotated);
    }
    assert_eq!(rotated, 1);
}

pub async fn ending_all_sessions_ends_only_that_users(store: Arc<impl Stores>) {
    let (ada, grace) = (account(&store).await, account(&store).await);
    for i in 0..30 {
        store.create_session(&session(&ada, &format!("ada{i}"), "h"), None).await.unwrap();
    }
    store.create_session(&session(&grace, "grace", "h"), None).await.unwrap();

    assert_eq!(store.user_sessions(&ada).await.unwrap().len(), 30);
    assert_eq!(store.user_sessions(&grace).await.unwrap().len(), 1);

    store.delete_user_sessions(&ada).await.unwrap();

    assert!(store.user_sessions(&ada).await.unwrap().is_empty());
    for i in 0..30 {
        assert_eq!(store.session(&ada, &format!("ada{i}")).await.unwrap(), None);
    }
    assert!(store.session(&grace, "grace").await.unwrap().is_some());
}

pub async fn a_token_is_taken_once_and_only_as_its_kind(store: Arc<impl Stores>) {
    let token = OneTimeToken {
        hash: "hash-1".into(),
        kind: TokenKind::EmailConfirmation,
        user_id: UserId::generate(),
        email_key: "ada@example.com".into(),
        expires_at: now() + Duration::hours(24),
        credential_version: 3,
        reset_generation: 0,
        payload: None,
    };
    store.put_token(&token).await.unwrap();

    assert_eq!(store.take_token(TokenKind::PasswordReset, "hash-1").await.unwrap(), None);
    assert_eq!(store.take_token(TokenKind::EmailConfirmation, "hash-1").await.unwrap(), Some(token));
    assert_eq!(store.take_token(TokenKind::EmailConfirmation, "hash-1").await.unwrap(), None);
    assert_eq!(store.take_token(TokenKind::EmailConfirmation, "never-issued").await.unwrap(), None);
}

pub async fn concurrent_takes_of_one_token_succeed_once(store: Arc<impl Stores>) {
    let token = OneTimeToken {
        hash: "hash-race".into(),
        kind: TokenKind::PasswordReset,
        user_id: UserId::generate(),
        email_key: "ada@example.com".into(),
        expires_at: now() + Duration::hours(1),
        credential_version: 0,
        reset_generation: 7,
        payload: None,
    };
    store.put_token(&token).await.unwrap();
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_token(TokenKind::PasswordReset, "hash-race").await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for attempt in attempts {
        taken += usize::from(attempt.await.unwrap().is_some());
    }
    assert_eq!(taken, 1);
}

fn code_token(hash: &str, payload: &str) -> OneTimeToken {
    OneTimeToken {
        hash: hash.into(),
        kind: TokenKind::EmailSignIn,
        user_id: UserId(String::new()),
        email_key: "ada@example.com".into(),
        expires_at: now() + Duration::minutes(10),
        credential_version: 0,
        reset_generation: 0,
        payload: Some(payload.into()),
    }
}

pub async fn a_token_put_again_replaces_the_one_before_and_its_uses(store: Arc<impl Stores>) {
    store.put_token(&code_token("hash-code", "first")).await.unwrap();
    for _ in 0..5 {
        assert!(store.use_token(TokenKind::EmailSignIn, "hash-code", 5).await.unwrap().is_some());
    }
    assert_eq!(store.use_token(TokenKind::EmailSignIn, "hash-code", 5).await.unwrap(), None, "used up");

    store.put_token(&code_token("hash-code", "second")).await.unwrap();

    let used = store.use_token(TokenKind::EmailSignIn, "hash-code", 5).await.unwrap();
    assert_eq!(used.and_then(|t| t.payload).as_deref(), Some("second"), "the newer one, with no use counted");
    assert_eq!(store.use_token(TokenKind::PasswordReset, "hash-code", 5).await.unwrap(), None, "only as its kind");
    assert_eq!(store.use_token(TokenKind::EmailSignIn, "never-issued", 5).await.unwrap(), None);
}

pub async fn parallel_uses_of_a_code_are_counted_to_its_limit(store: Arc<impl Stores>) {
    store.put_token(&code_token("hash-parallel", "code")).await.unwrap();
    let uses: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.use_token(TokenKind::EmailSignIn, "hash-parallel", 5).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for used in uses {
        granted += usize::from(used.await.unwrap().is_some());
    }
    assert_eq!(granted, 5);
}

pub async fn a_conditional_take_leaves_a_newer_token_alone(store: Arc<impl Stores>) {
    store.put_token(&code_token("hash-newer", "checked")).await.unwrap();
    store.put_token(&code_token("hash-newer", "asked again")).await.unwrap();

    assert_eq!(store.take_token_if(TokenKind::EmailSignIn, "hash-newer", "checked").await.unwrap(), None);
    let taken = store.take_token_if(TokenKind::EmailSignIn, "hash-newer", "asked again").await.unwrap();
    assert_eq!(taken.and_then(|t| t.payload).as_deref(), Some("asked again"));
    assert_eq!(store.peek_token(TokenKind::EmailSignIn, "hash-newer").await.unwrap(), None);
}

fn policy(threshold: u32) -> AttemptPolicy {
    AttemptPolicy {
        threshold,
        first_lockout: Duration::seconds(30),
        max_lockout: Duration::minutes(15),
        memory: Duration::hours(1),
    }
}

/// A check of `email_key` from `source`: 5 per source, 50 per address before a backoff.
fn check<'a>(email_key: &'a str, source: &'a str) -> PasswordCheck<'a> {
    PasswordCheck {
        key: CheckKey { email_key, source },
        policies: CheckPolicies { per_source: policy(5), per_address: policy(50) },
    }
}

fn granted_as(reservation: &CheckReservation, source_count: u32, address_count: u32) -> bool {
    matches!(reservation, CheckReservation::Granted { per_source, per_address, .. }
        if per_source.count == source_count && per_address.count == address_count)
}

pub async fn a_burst_of_parallel_attempts_gets_no_more_than_the_policy_allows(store: Arc<impl Stores>) {
    let t0 = now();
    let attempts: Vec<_> = (0..41)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { store.reserve_password_check(&check("ada@x.test", "1.1.1.1"), t0).await.unwrap() },
            )
        })
        .collect();
    let mut granted = 0;
    for attempt in attempts {
        granted += usize::from(matches!(attempt.await.unwrap(), CheckReservation::Granted { .. }));
    }
    assert_eq!(granted, 5, "41 parallel attempts, 5 password checks");
    let ada = check("ada@x.test", "1.1.1.1");
    assert_eq!(
        store.reserve_password_check(&ada, t0 + Duration::seconds(10)).await.unwrap(),
        CheckReservation::Refused { wait: Duration::seconds(20) }
    );
    // Another source is counted apart, on the same address count.
    let elsewhere = store.reserve_password_check(&check("ada@x.test", "2.2.2.2"), t0).await.unwrap();
    assert!(granted_as(&elsewhere, 1, 6), "{elsewhere:?}");
    // After the lockout one more try; then twice as long a wait.
    let later = t0 + Duration::seconds(31);
    assert!(granted_as(&store.reserve_password_check(&ada, later).await.unwrap(), 6, 7));
    assert_eq!(
        store.reserve_password_check(&ada, later).await.unwrap(),
        CheckReservation::Refused { wait: Duration::seconds(60) }
    );
    // Forgotten after a success (for that source and the address), and after an hour of quiet.
    store.forget_password_checks(ada.key).await.unwrap();
    assert!(granted_as(&store.reserve_password_check(&ada, later).await.unwrap(), 1, 1));
    let hours_later = later + Duration::hours(2);
    assert!(granted_as(&store.reserve_password_check(&ada, hours_later).await.unwrap(), 1, 1));
    assert!(granted_as(&store.reserve_password_check(&check("other@x.test", "1.1.1.1"), t0).await.unwrap(), 1, 1));
}

/// A login's first store call counts the check and says whose address it is; its last starts
/// the session and forgets the counts, or neither. Counting an address no one holds does not
/// stop anyone registering it.
pub async fn a_password_check_is_counted_beside_the_address_it_names(store: Arc<impl Stores>) {
    let t0 = now();
    let ada = user("ada.checks@example.com");
    let key = ada.email.key();
    // Counted before anyone holds the address, and still counted after.
    let before = store.reserve_password_check(&check(&key, "1.1.1.1"), t0).await.unwrap();
    assert!(matches!(before, CheckReservation::Granted { account: None, .. }), "{before:?}");
    store.create_account(&ada).await.unwrap();
    let found = store.account_by_email(&key).await.unwrap().expect("registered over the counts");
    assert_eq!(found.id, ada.id);

    let during = store.reserve_password_check(&check(&key, "1.1.1.1"), t0).await.unwrap();
    assert!(matches!(&during, CheckReservation::Granted { account: Some(id), .. } if *id == ada.id), "{during:?}");
    // A session from a stale credential is refused and forgets nothing.
    let mut stale = session(&ada.id, "stale", "h");
    stale.credential_version = 7;
    assert!(matches!(store.create_session(&stale, Some(check(&key, "1.1.1.1").key)).await, Err(StoreError::Conflict)));
    assert!(granted_as(&store.reserve_password_check(&check(&key, "1.1.1.1"), t0).await.unwrap(), 3, 3), "kept");
    store.create_session(&session(&ada.id, "fresh", "h"), Some(check(&key, "1.1.1.1").key)).await.unwrap();
    assert!(store.session(&ada.id, "fresh").await.unwrap().is_some());
    assert!(granted_as(&store.reserve_password_check(&check(&key, "1.1.1.1"), t0).await.unwrap(), 1, 1), "forgotten");

    // An unknown address is no one's, however often it is counted.
    for _ in 0..3 {
        let nobody = store.reserve_password_check(&check("nobody@example.com", "1.1.1.1"), t0).await.unwrap();
        assert!(matches!(nobody, CheckReservation::Granted { account: None, .. }), "{nobody:?}");
    }
    assert!(store.account_by_email("nobody@example.com").await.unwrap().is_none());
}

pub async fn counters_count_atomically(store: Arc<impl Stores>) {
    let expires = now() + Duration::hours(1);
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.increment_counter("email#ada#1", expires).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for attempt in attempts {
        seen.push(attempt.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=10).collect::<Vec<u32>>());
    assert_eq!(store.increment_counter("email#other#1", expires).await.unwrap(), 1);
}

pub async fn accounts_are_listed_page_by_page_through_signed_cursors(store: Arc<impl Stores>) {
    let roles = [Role::Reader, Role::Author, Role::Reader, Role::Moderator, Role::Admin, Role::Reader, Role::Author];
    let mut created = Vec::new();
    for (i, role) in roles.into_iter().enumerate() {
        let mut account = user(&format!("user{i}@example.com"));
        account.role = role;
        if i % 3 == 2 {
            account.status = AccountStatus::Suspended(Suspension { until: None, reason: None });
        }
        store.create_account(&account).await.unwrap();
        created.push(account);
    }
    // Clients hold positions only as sealed cursors.
    let signer = CursorSigner::new(b"test key");
    let list = |role: Option<Role>, status: Option<Status>| {
        let (store, signer) = (store.clone(), &signer);
        async move {
            let (mut ids, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
            loop {
                let after = cursor.as_deref().map(|c| signer.open(c).unwrap());
                let (page, next) =
                    store.list_accounts(AccountFilter { role, status }, 2, after.as_ref()).await.unwrap();
                assert!(page.len() <= 2);
                ids.extend(page.into_iter().map(|u| u.id.0));
                pages += 1;
                assert!(pages < 20, "the listing does not end");
                match next {
                    Some(position) => cursor = Some(signer.seal(&position)),
                    None => return ids,
                }
            }
        }
    };

    let mut everyone: Vec<&User> = created.iter().collect();
    everyone.sort_by(|a, b| (a.role.as_str(), &a.id.0).cmp(&(b.role.as_str(), &b.id.0)));
    assert_eq!(list(None, None).await, everyone.iter().map(|u| u.id.0.clone()).collect::<Vec<_>>());

    let mut readers: Vec<String> = created.iter().filter(|u| u.role == Role::Reader).map(|u| u.id.0.clone()).collect();
    readers.sort();
    assert_eq!(list(Some(Role::Reader), None).await, readers);

    let active: Vec<String> =
        everyone.iter().filter(|u| u.status == AccountStatus::Active).map(|u| u.id.0.clone()).collect();
    assert_eq!(list(None, Some(Status::Active)).await, active);
    let mut active_readers: Vec<String> = created
        .iter()
        .filter(|u| u.role == Role::Reader && u.status == AccountStatus::Active)
        .map(|u| u.id.0.clone())
        .collect();
    active_readers.sort();
    assert_eq!(list(Some(Role::Reader), Some(Status::Active)).await, active_readers);
}

/// Calls `$runner!` with the name of every case, so each adapter's suite runs all of them.
fn admin(email: &str) -> User {
    User { role: Role::Admin, ..user(email) }
}

pub async fn a_deleted_account_frees_its_email_and_a_stale_delete_is_refused(store: Arc<impl Stores>) {
    let ada = user("ada@example.com");
    store.create_account(&ada).await.unwrap();
    store.update_account(&ada).await.unwrap();

    assert!(matches!(store.delete_account(&ada).await, Err(StoreError::Conflict)), "a delete from a stale read");
    store.delete_account(&written(&ada)).await.unwrap();

    assert_eq!(store.account(&ada.id).await.unwrap(), None);
    assert_eq!(store.account_by_email("ada@example.com").await.unwrap(), None);
    assert!(matches!(store.delete_account(&written(&ada)).await, Err(StoreError::Conflict)), "gone is gone");
    store.create_account(&user("ada@example.com")).await.expect("the address is free again");
}

pub async fn the_last_active_admin_can_be_neither_deleted_demoted_nor_suspended(store: Arc<impl Stores>) {
    let grace = admin("grace@example.com");
    store.create_account(&grace).await.unwrap();

    assert!(matches!(store.delete_account(&grace).await, Err(StoreError::LastAdmin)));
    let demoted = User { role: Role::Reader, ..grace.clone() };
    assert!(matches!(store.update_account(&demoted).await, Err(StoreError::LastAdmin)));
    let suspended =
        User { status: AccountStatus::Suspended(Suspension { until: None, reason: None }), ..grace.clone() };
    assert!(matches!(store.update_account(&suspended).await, Err(StoreError::LastAdmin)));
    // Other writes to the last admin go through.
    store.update_account(&grace).await.unwrap();

    // A reader promoted is a second admin; then either may go, but not both.
    let ada = user("ada@example.com");
    store.create_account(&ada).await.unwrap();
    store.update_account(&User { role: Role::Admin, ..ada.clone() }).await.unwrap();
    store.update_account(&User { role: Role::Reader, ..written(&grace) }).await.unwrap();
    let ada = written(&User { role: Role::Admin, ..ada });
    assert!(matches!(store.delete_account(&ada).await, Err(StoreError::LastAdmin)));
    // A pending admin (registered, not confirmed) does not count; confirmed, it does.
    let alan = User { status: AccountStatus::Pending, ..admin("alan@example.com") };
    store.create_account(&alan).await.unwrap();
    assert!(matches!(store.delete_account(&ada).await, Err(StoreError::LastAdmin)));
    store.update_account(&User { status: AccountStatus::Active, ..alan.clone() }).await.unwrap();
    store.delete_account(&ada).await.expect("alan is an admin now");
}

pub async fn two_admins_removing_each_other_at_once_leave_one(store: Arc<impl Stores>) {
    for round in 0..5 {
        let (a, b) = (admin(&format!("a{round}@example.com")), admin(&format!("b{round}@example.com")));
        store.create_account(&a).await.unwrap();
        store.create_account(&b).await.unwrap();
        // The survivor of the last round goes first, so these two are the only admins.
        if round > 0 {
            let (list, _) =
                store.list_accounts(AccountFilter { role: Some(Role::Admin), status: None }, 100, None).await.unwrap();
            for old in list.into_iter().filter(|u| u.id != a.id && u.id != b.id && u.counts_as_admin()) {
                store.delete_account(&old).await.unwrap();
            }
        }
        let results = if round % 2 == 0 {
            let (x, y) = tokio::join!(store.delete_account(&a), store.delete_account(&b));
            [x, y]
        } else {
            let (ra, rb) = (User { role: Role::Reader, ..a.clone() }, User { role: Role::Reader, ..b.clone() });
            let (x, y) = tokio::join!(store.update_account(&ra), store.update_account(&rb));
            [x, y]
        };
        let done = results.iter().filter(|r| r.is_ok()).count();
        let last = results.iter().filter(|r| matches!(r, Err(StoreError::LastAdmin))).count();
        assert_eq!((done, last), (1, 1), "round {round}: {results:?}");
    }
}

pub async fn a_users_emailed_tokens_go_with_the_account(store: Arc<impl Stores>) {
    let (ada, grace) = (UserId::generate(), UserId::generate());
    let token = |hash: &str, user_id: &UserId, kind| OneTimeToken {
        hash: hash.into(),
        kind,
        user_id: user_id.clone(),
        email_key: "someone@example.com".into(),
        expires_at: now() + Duration::hours(1),
        credential_version: 0,
        reset_generation: 0,
        payload: None,
    };
    store.put_token(&token("ada-1", &ada, TokenKind::EmailConfirmation)).await.unwrap();
    store.put_token(&token("ada-2", &ada, TokenKind::PasswordReset)).await.unwrap();
    store.put_token(&token("grace-1", &grace, TokenKind::PasswordReset)).await.unwrap();
    // GSI reads on DynamoDB are eventually consistent: a moment for the index.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    store.delete_user_tokens(&ada).await.unwrap();

    assert_eq!(store.take_token(TokenKind::EmailConfirmation, "ada-1").await.unwrap(), None);
    assert_eq!(store.take_token(TokenKind::PasswordReset, "ada-2").await.unwrap(), None);
    assert!(store.take_token(TokenKind::PasswordReset, "grace-1").await.unwrap().is_some(), "only hers went");
}

async fn author(store: &Arc<impl Stores>, email: &str) -> User {
    let author = User { role: Role::Author, ..user(email) };
    store.create_account(&author).await.unwrap();
    author
}

fn report(author: &User, reporter: &UserId) -> (Report, AuditRecord) {
    let id = uuid::Uuid::now_v7().to_string();
    let report = Report {
        id: id.clone(),
        author_id: author.id.clone(),
        reporter_id: reporter.clone(),
        reason: "Spam.".into(),
        created_at: now(),
        flag_id: None,
    };
    let audit = AuditRecord {
        id: uuid::Uuid::now_v7().to_string(),
        actor_id: reporter.clone(),
        action: ModerationAction::Report,
        author_id: author.id.clone(),
        reason: "Spam.".into(),
        at: now(),
        record_id: Some(id),
        until: None,
    };
    (report, audit)
}

pub async fn parallel_reports_by_one_reporter_file_one_open_report(store: Arc<impl Stores>) {
    let bob = author(&store, "bob@example.com").await;
    let ada = UserId::generate();
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let (store, (report, audit)) = (store.clone(), report(&bob, &ada));
            tokio::spawn(async move { store.file_report(&report, &audit).await })
        })
        .collect();
    let mut filed = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => filed += 1,
            Err(ModerationError::AlreadyReported) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(filed, 1);
    let filter = RecordFilter { author_id: Some(bob.id.clone()), open_only: true };
    assert_eq!(store.count_reports(&filter).await.unwrap(), 1);
    let (audit, _) = store.audit_records(&RecordFilter::default(), 100, None).await.unwrap();
    assert_eq!(audit.len(), 1, "one audit record per report filed, none for the refused");
    let filed = store.reports_filed_by(&ada).await.unwrap();
    assert_eq!((filed.len(), store.reports_filed_by(&bob.id).await.unwrap().len()), (1, 0));
}

pub async fn a_flag_closes_its_reports_all_or_nothing(store: Arc<impl Stores>) {
    let (bob, cy) = (author(&store, "bob@example.com").await, author(&store, "cy@example.com").await);
    let (on_bob, audit) = report(&bob, &UserId::generate());
    store.file_report(&on_bob, &audit).await.unwrap();
    let (on_cy, audit) = report(&cy, &UserId::generate());
    store.file_report(&on_cy, &audit).await.unwrap();
    let flag = |reports: Vec<String>| {
        let flag = Flag {
            id: uuid::Uuid::now_v7().to_string(),
            author_id: bob.id.clone(),
            moderator_id: UserId::generate(),
            reason: "Plagiarism.".into(),
            report_ids: reports,
            created_at: now(),
        };
        let audit = AuditRecord {
            id: uuid::Uuid::now_v7().to_string(),
            actor_id: flag.moderator_id.clone(),
            action: ModerationAction::Flag,
            author_id: bob.id.clone(),
            reason: flag.reason.clone(),
            at: now(),
            record_id: Some(flag.id.clone()),
            until: None,
        };
        (flag, audit)
    };

    // Another author's report in the list: nothing is written, Bob's report stays open.
    let (mixed, audit) = flag(vec![on_bob.id.clone(), on_cy.id.clone()]);
    assert!(
        matches!(store.flag_author(&mixed, &audit).await, Err(ModerationError::ReportNotOpen(id)) if id == on_cy.id)
    );
    let bobs = RecordFilter { author_id: Some(bob.id.clone()), open_only: true };
    assert_eq!(store.count_reports(&bobs).await.unwrap(), 1);
    assert_eq!(store.count_flags(&RecordFilter::default()).await.unwrap(), 0);

    let (good, audit) = flag(vec![on_bob.id.clone()]);
    store.flag_author(&good, &audit).await.unwrap();
    assert_eq!(store.count_reports(&bobs).await.unwrap(), 0);
    let (reports, _) = store.reports(&RecordFilter { open_only: false, ..bobs.clone() }, 10, None).await.unwrap();
    assert_eq!(reports[0].flag_id.as_deref(), Some(good.id.as_str()));
    // Taken up once: a second flag cannot link it, and its reporter may report again.
    let (again, audit) = flag(vec![on_bob.id.clone()]);
    assert!(matches!(store.flag_author(&again, &audit).await, Err(ModerationError::ReportNotOpen(_))));
    let (second, audit) = report(&bob, &on_bob.reporter_id);
    store.file_report(&second, &audit).await.unwrap();
    // The totals follow every change after they were first read.
    assert_eq!(store.count_reports(&bobs).await.unwrap(), 1);
    assert_eq!(store.count_reports(&RecordFilter { open_only: false, ..bobs.clone() }).await.unwrap(), 2);
    assert_eq!(store.count_reports(&RecordFilter::default()).await.unwrap(), 3);
    assert_eq!(
        store.count_flags(&RecordFilter { author_id: Some(bob.id.clone()), open_only: false }).await.unwrap(),
        1
    );
    assert_eq!(store.count_flags(&RecordFilter { author_id: Some(cy.id.clone()), open_only: false }).await.unwrap(), 0);
}

pub async fn moderation_records_are_listed_newest_first_page_by_page(store: Arc<impl Stores>) {
    let bob = author(&store, "bob@example.com").await;
    let mut filed = Vec::new();
    for _ in 0..5 {
        let (report, audit) = report(&bob, &UserId::generate());
        store.file_report(&report, &audit).await.unwrap();
        filed.push(report.id);
    }
    filed.reverse();
    let filter = RecordFilter { author_id: Some(bob.id.clone()), open_only: true };
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let (page, next) = store.reports(&filter, 2, after.as_ref()).await.unwrap();
        seen.extend(page.into_iter().map(|r| r.id));
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, filed);
    assert_eq!(store.count_reports(&RecordFilter::default()).await.unwrap(), 5);
}

fn edge(kind: EdgeKind, from: &UserId, to: &UserId) -> Edge {
    Edge { kind, from: from.clone(), to: to.clone(), created_at: now() }
}

pub async fn parallel_subscriptions_count_once_and_only_authors_are_followed(store: Arc<impl Stores>) {
    let bob = author(&store, "bob@example.com").await;
    let ada = user("ada@example.com");
    store.create_account(&ada).await.unwrap();
    let attempts: Vec<_> = (0..10)
        .map(|_| {
            let (store, edge) = (store.clone(), edge(EdgeKind::Subscription, &ada.id, &bob.id));
            tokio::spawn(async move { store.add_edge(&edge).await.unwrap() })
        })
        .collect();
    let mut added = Vec::new();
    for attempt in attempts {
        added.push(attempt.await.unwrap());
    }
    assert_eq!(added.iter().filter(|a| **a == EdgeAdded::New).count(), 1, "{added:?}");
    assert_eq!(store.counts(&bob.id).await.unwrap().subscribers, 1);
    // A reader is no author; nobody is nobody.
    assert_eq!(store.add_edge(&edge(EdgeKind::Follow, &bob.id, &ada.id)).await.unwrap(), EdgeAdded::NotAnAuthor);
    let nobody = UserId::generate();
    assert_eq!(store.add_edge(&edge(EdgeKind::Follow, &bob.id, &nobody)).await.unwrap(), EdgeAdded::NotAnAuthor);

    let cy = author(&store, "cy@example.com").await;
    assert_eq!(store.add_edge(&edge(EdgeKind::Follow, &cy.id, &bob.id)).await.unwrap(), EdgeAdded::New);
    let (bobs, cys) = (store.counts(&bob.id).await.unwrap(), store.counts(&cy.id).await.unwrap());
    assert_eq!((bobs.subscribers, bobs.followers, cys.follows), (1, 1, 1));
    let (followers, _) = store.edges(EdgeKind::Follow, &Side::To(bob.id.clone()), 10, None).await.unwrap();
    assert_eq!(followers.iter().map(|e| e.from.clone()).collect::<Vec<_>>(), std::slice::from_ref(&cy.id));

    assert!(store.remove_edge(EdgeKind::Subscription, &ada.id, &bob.id).await.unwrap());
    assert!(!store.remove_edge(EdgeKind::Subscription, &ada.id, &bob.id).await.unwrap());
    assert_eq!(store.counts(&bob.id).await.unwrap().subscribers, 0);
    // Deleting Cy's edges uncounts them on Bob's side.
    assert!(!store.delete_user_edges(&cy.id, 10).await.unwrap(), "nothing left");
    assert_eq!(store.counts(&bob.id).await.unwrap().followers, 0);
}

fn a_notification(author: UserId) -> Notification {
    Notification {
        id: uuid::Uuid::now_v7().to_string(),
        author_id: author,
        subject: "News".into(),
        message: Some("Hi.".into()),
        article_url: None,
        created_at: now(),
        queued: 0,
        sent: 0,
        failed: 0,
        fanned_out: false,
        stalled: false,
    }
}

pub async fn a_delivery_is_claimed_by_one_sender_and_counted_once(store: Arc<impl Stores>) {
    let notification = a_notification(UserId::generate());
    store.create_notification(&notification).await.unwrap();
    let subscriber = UserId::generate();
    let id = notification.id.clone();
    let lease = Duration::seconds(30);
    // Eight copies of one email job at once: one sender.
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let (store, id, subscriber) = (store.clone(), id.clone(), subscriber.clone());
            tokio::spawn(async move { store.claim_delivery(&id, &subscriber, now(), lease).await.unwrap() })
        })
        .collect();
    let mut acquired = 0;
    for claim in claims {
        match claim.await.unwrap() {
            DeliveryClaim::Acquired { attempt } => {
                assert_eq!(attempt, 1);
                acquired += 1;
            }
            DeliveryClaim::Busy => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acquired, 1);
    // Sent, and marked twice (a redelivery): counted once, and never claimed again.
    let sent = [Finished { subscriber: subscriber.clone(), sent: true }];
    store.finish_deliveries(&id, &sent).await.unwrap();
    store.finish_deliveries(&id, &sent).await.unwrap();
    let later = now() + lease + Duration::seconds(1);
    assert_eq!(store.claim_delivery(&id, &subscriber, later, lease).await.unwrap(), DeliveryClaim::Done);

    // A throttled send is given back without spending an attempt; a failed one spends it.
    let throttled = UserId::generate();
    assert_eq!(
        store.claim_delivery(&id, &throttled, now(), lease).await.unwrap(),
        DeliveryClaim::Acquired { attempt: 1 }
    );
    store.release_delivery(&id, &throttled, false).await.unwrap();
    assert_eq!(
        store.claim_delivery(&id, &throttled, now(), lease).await.unwrap(),
        DeliveryClaim::Acquired { attempt: 1 }
    );
    store.release_delivery(&id, &throttled, true).await.unwrap();
    assert_eq!(
        store.claim_delivery(&id, &throttled, now(), lease).await.unwrap(),
        DeliveryClaim::Acquired { attempt: 2 }
    );

    // A sender that vanished mid-send: once its lease runs out the delivery is abandoned, not
    // taken over (the email may have left), and given up as failed.
    let other = UserId::generate();
    let first = store.claim_delivery(&id, &other, now(), lease).await.unwrap();
    assert!(matches!(first, DeliveryClaim::Acquired { .. }));
    assert_eq!(store.claim_delivery(&id, &other, now(), lease).await.unwrap(), DeliveryClaim::Busy);
    // Timestamps are whole seconds: well past the lease, whenever the claim above was made.
    let past_lease = now() + lease + Duration::seconds(2);
    assert_eq!(store.claim_delivery(&id, &other, past_lease, lease).await.unwrap(), DeliveryClaim::Abandoned);
    // Finished together with the throttled one, sent at last: one write, both counted.
    let together =
        [Finished { subscriber: other.clone(), sent: false }, Finished { subscriber: throttled, sent: true }];
    store.finish_deliveries(&id, &together).await.unwrap();
    assert_eq!(store.claim_delivery(&id, &other, past_lease, lease).await.unwrap(), DeliveryClaim::Done);
    let stored = store.notification(&id).await.unwrap().unwrap();
    assert_eq!((stored.sent, stored.failed), (2, 1));
    // One already finished in a batch: the others are still marked and counted.
    let late = UserId::generate();
    store.claim_delivery(&id, &late, now(), lease).await.unwrap();
    let mixed = [Finished { subscriber: subscriber.clone(), sent: true }, Finished { subscriber: late, sent: true }];
    store.finish_deliveries(&id, &mixed).await.unwrap();
    let stored = store.notification(&id).await.unwrap().unwrap();
    assert_eq!((stored.sent, stored.failed), (3, 1));
}

pub async fn a_fan_out_moves_each_segment_from_where_it_stands(store: Arc<impl Stores>) {
    let notification = a_notification(UserId::generate());
    let id = notification.id.clone();
    store.create_notification(&notification).await.unwrap();
    assert_eq!(store.segment_position(&id, 0).await.unwrap(), None, "not started");
    let cut = Some("0190a1b2-c3d4".to_string());
    let plan = vec![
        Segment { index: 0, range: IdRange { from: None, until: cut.clone() } },
        Segment { index: 1, range: IdRange { from: cut, until: None } },
    ];
    assert_eq!(store.start_fan_out(&id, &plan).await.unwrap(), plan);
    // A start done again (with subscribers added meanwhile) keeps the first plan.
    assert_eq!(store.start_fan_out(&id, &plan[..1]).await.unwrap(), plan);
    assert_eq!(store.segment_position(&id, 1).await.unwrap(), Some(SegmentPosition::Start));

    let past = SegmentPosition::After(UserId("0190a1b2-0000".into()));
    // Two jobs on one segment: one moves it.
    let (a, b) = tokio::join!(
        store.advance_segment(&id, 0, &SegmentPosition::Start, &past, 100),
        store.advance_segment(&id, 0, &SegmentPosition::Start, &past, 100),
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one moved it");
    assert_eq!(store.segment_position(&id, 0).await.unwrap(), Some(past.clone()));
    store.mark_stalled(&id).await.unwrap();
    let stalled = store.notification(&id).await.unwrap().unwrap();
    assert!(stalled.stalled && !stalled.fanned_out);
    assert!(store.advance_segment(&id, 0, &past, &SegmentPosition::Done, 5).await.unwrap());
    let moving = store.notification(&id).await.unwrap().unwrap();
    assert!(!moving.stalled && !moving.fanned_out, "one segment left: {moving:?}");
    assert!(store.advance_segment(&id, 1, &SegmentPosition::Start, &SegmentPosition::Done, 0).await.unwrap());
    assert!(!store.advance_segment(&id, 1, &SegmentPosition::Start, &SegmentPosition::Done, 0).await.unwrap());
    let done = store.notification(&id).await.unwrap().unwrap();
    assert_eq!((done.queued, done.fanned_out), (105, true));

    // Nobody to notify: done at the start.
    let empty = a_notification(UserId::generate());
    store.create_notification(&empty).await.unwrap();
    assert_eq!(store.start_fan_out(&empty.id, &[]).await.unwrap(), Vec::new());
    assert!(store.notification(&empty.id).await.unwrap().unwrap().fanned_out);
}

pub async fn subscribers_are_read_by_id_range_in_id_order(store: Arc<impl Stores>) {
    let bob = author(&store, "bob@example.com").await;
    assert_eq!(store.subscriber_id_bounds(&bob.id).await.unwrap(), None);
    let mut ids = Vec::new();
    for i in 0..12 {
        let reader = user(&format!("reader{i}@example.com"));
        store.create_account(&reader).await.unwrap();
        store.add_edge(&edge(EdgeKind::Subscription, &reader.id, &bob.id)).await.unwrap();
        ids.push(reader.id);
    }
    ids.sort_by(|a, b| a.0.cmp(&b.0));
    let bounds = store.subscriber_id_bounds(&bob.id).await.unwrap();
    assert_eq!(bounds, Some((ids[0].clone(), ids[11].clone())));
    let everyone = IdRange::default();
    assert_eq!(store.subscriber_ids(&bob.id, &everyone, None, 100).await.unwrap(), ids);
    assert_eq!(store.subscriber_ids(&bob.id, &everyone, Some(&ids[3]), 4).await.unwrap(), ids[4..8].to_vec());
    // A range from one id until another: the first in, the last out.
    let range = IdRange { from: Some(ids[2].0.clone()), until: Some(ids[9].0.clone()) };
    assert_eq!(store.subscriber_ids(&bob.id, &range, None, 100).await.unwrap(), ids[2..9].to_vec());
    assert_eq!(store.subscriber_ids(&bob.id, &range, Some(&ids[6]), 100).await.unwrap(), ids[7..9].to_vec());
    let until = IdRange { from: None, until: Some(ids[5].0.clone()) };
    assert_eq!(store.subscriber_ids(&bob.id, &until, Some(&ids[1]), 2).await.unwrap(), ids[2..4].to_vec());
    let from = IdRange { from: Some(ids[10].0.clone()), until: None };
    assert_eq!(store.subscriber_ids(&bob.id, &from, None, 100).await.unwrap(), ids[10..].to_vec());
}

pub async fn accounts_are_read_many_at_once(store: Arc<impl Stores>) {
    let mut ids = Vec::new();
    for i in 0..30 {
        let user = user(&format!("reader{i}@example.com"));
        store.create_account(&user).await.unwrap();
        ids.push(user.id);
    }
    ids.push(UserId::generate());
    let mut found: Vec<UserId> = store.accounts_by_id(&ids).await.unwrap().into_iter().map(|u| u.id).collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    ids.pop();
    assert_eq!(found, ids);
}

/// The account lifecycle over `store`, as every route and worker writes accounts.
fn lifecycle<S: Stores>(store: &S) -> shared::accounts::Lifecycle<'_> {
    static CLOCK: shared::clock::SystemClock = shared::clock::SystemClock;
    shared::accounts::Lifecycle { accounts: store, sessions: store, clock: &CLOCK }
}

/// Twenty logins that read the account (with its role and status) and verified its password,
/// each granted its session while an admin changes the account with `change`; returns the
/// sessions that stand afterwards and the account as it ends.
async fn logins_racing<S: Stores>(
    store: Arc<S>,
    role: Role,
    change: shared::accounts::AccessChange,
) -> (Vec<Session>, User) {
    let mut account = user(&format!("{}@example.com", uuid::Uuid::now_v7().simple()));
    account.role = role;
    store.create_account(&account).await.unwrap();
    let read = store.account(&account.id).await.unwrap().unwrap();
    let logins: Vec<_> = (0..20)
        .map(|i| {
            let (store, read) = (store.clone(), read.clone());
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(i % 5)).await;
                let session = session(&read.id, &format!("login-{i}"), &format!("hash-{i}"));
                lifecycle(store.as_ref()).grant_session(read, session, None).await
            })
        })
        .collect();
    let admin = UserId::generate();
    let target = shared::accounts::Target { id: &account.id, role: None };
    lifecycle(store.as_ref()).change_access(store.as_ref(), &admin, target, change).await.unwrap();
    for login in logins {
        // Granted (then ended by the change) or refused: never an error of another kind.
        match login.await.unwrap() {
            Ok(_) | Err(shared::accounts::AccountError::Conflict) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    let after = store.account(&account.id).await.unwrap().unwrap();
    (store.user_sessions(&account.id).await.unwrap(), after)
}

pub async fn logins_racing_a_suspension_leave_no_session(store: Arc<impl Stores>) {
    let suspend = shared::accounts::StatusChange::Suspend { until: None, reason: None };
    let (sessions, after) = logins_racing(store, Role::Author, shared::accounts::AccessChange::status(suspend)).await;
    assert_eq!(after.status.tag(), Status::Suspended);
    assert_eq!(sessions, [], "a session granted with the old status survived the suspension");
}

pub async fn logins_racing_a_demotion_leave_no_session_with_the_old_role(store: Arc<impl Stores>) {
    let demote = shared::accounts::AccessChange { role: Some(Role::Reader), ..Default::default() };
    let (sessions, after) = logins_racing(store, Role::Moderator, demote).await;
    assert_eq!(after.role, Role::Reader);
    assert_eq!(sessions, [], "a session granted with the old role survived the demotion");
}

pub async fn an_email_change_takes_an_address_a_pending_registration_held(store: Arc<impl Stores>) {
    let mut squatter = user("wanted@example.com");
    squatter.status = AccountStatus::Pending;
    store.create_account(&squatter).await.unwrap();
    let owner = user("owner@example.com");
    store.create_account(&owner).await.unwrap();

    let mut moved = owner.clone();
    moved.email = EmailAddress::parse("wanted@example.com").unwrap();
    store.update_account(&moved).await.unwrap();

    assert_eq!(store.account(&squatter.id).await.unwrap(), None, "the registration never confirmed is gone");
    assert_eq!(store.account_by_email("wanted@example.com").await.unwrap().unwrap().id, owner.id);
    assert_eq!(store.account_by_email("owner@example.com").await.unwrap(), None, "the old address is free");
    // A confirmed holder still keeps its address.
    let grace = user("grace@example.com");
    store.create_account(&grace).await.unwrap();
    let mut stolen = written(&moved);
    stolen.email = EmailAddress::parse("grace@example.com").unwrap();
    assert!(matches!(store.update_account(&stolen).await, Err(StoreError::EmailTaken)));
}

pub async fn a_deleted_accounts_edges_go_page_by_page_with_their_counts(store: Arc<impl Stores>) {
    let gone = author(&store, &format!("gone-{}@example.com", uuid::Uuid::now_v7().simple())).await;
    let other = author(&store, &format!("other-{}@example.com", uuid::Uuid::now_v7().simple())).await;
    for _ in 0..7 {
        let subscriber = UserId::generate();
        assert_eq!(store.add_edge(&edge(EdgeKind::Subscription, &subscriber, &gone.id)).await.unwrap(), EdgeAdded::New);
    }
    store.add_edge(&edge(EdgeKind::Follow, &gone.id, &other.id)).await.unwrap();
    store.add_edge(&edge(EdgeKind::Follow, &other.id, &gone.id)).await.unwrap();
    store.add_edge(&edge(EdgeKind::Subscription, &other.id, &gone.id)).await.unwrap();
    let counts = store.counts(&other.id).await.unwrap();
    assert_eq!((counts.followers, counts.follows), (1, 1));

    // Ten edges, four a page: three pages, the last one saying nothing is left.
    let mut pages = 0;
    while store.delete_user_edges(&gone.id, 4).await.unwrap() {
        pages += 1;
        assert!(pages < 10, "the erasure must end");
    }
    assert_eq!(pages, 2);
    assert_eq!(store.counts(&other.id).await.unwrap(), shared::domain::AuthorCounts::default());
    assert_eq!(store.counts(&gone.id).await.unwrap(), shared::domain::AuthorCounts::default());
    for side in [Side::From(gone.id.clone()), Side::To(gone.id.clone())] {
        for kind in [EdgeKind::Subscription, EdgeKind::Follow] {
            assert_eq!(store.edges(kind, &side, 10, None).await.unwrap().0, [], "{kind:?} {side:?}");
        }
    }
    // Run again (a redelivered job): nothing to do, nothing breaks.
    assert!(!store.delete_user_edges(&gone.id, 4).await.unwrap());
}

pub async fn an_audit_record_with_an_end_past_year_9999_is_still_listed(store: Arc<impl Stores>) {
    // What an older version stored for `until: 9999-12-31T23:59:59-23:59`.
    let date = time::Date::from_calendar_date(9999, time::Month::December, 31).unwrap();
    let until = date.with_hms(23, 59, 59).unwrap().assume_offset(time::UtcOffset::from_hms(-23, -59, 0).unwrap());
    let author_id = UserId::generate();
    let record = AuditRecord {
        until: Some(until),
        ..AuditRecord::new(&UserId::generate(), ModerationAction::Suspend, &author_id, "Forever.".into(), now())
    };
    store.record_action(&record).await.unwrap();

    let filter = RecordFilter { author_id: Some(author_id), open_only: false };
    let (records, _) = store.audit_records(&filter, 10, None).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].until.map(|t| t.year()), Some(9999), "read back as the last instant shown");
}

pub async fn a_sessions_sign_in_methods_are_kept(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    let session = Session {
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        source: Some("203.0.113.7".into()),
        device: Some("Firefox on Linux".into()),
        ..session(&ada, "mfa", "h")
    };
    store.create_session(&session, None).await.unwrap();
    assert_eq!(store.session(&ada, "mfa").await.unwrap().unwrap(), session, "kept whole: methods, source, device");
}

pub async fn a_console_session_is_touched_only_with_its_current_secret(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    let session = Session { seen_at: Some(now()), ..session(&ada, "console", "h") };
    store.create_session(&session, None).await.unwrap();
    let later = now() + Duration::minutes(5);
    assert!(store.touch_session(&ada, "console", "h", later, None).await.unwrap());
    let read = store.session(&ada, "console").await.unwrap().unwrap();
    assert_eq!((read.seen_at, read.proved_at), (Some(later), None), "used, not proved again");
    let proved = later + Duration::minutes(1);
    assert!(store.touch_session(&ada, "console", "h", proved, Some(proved)).await.unwrap());
    let read = store.session(&ada, "console").await.unwrap().unwrap();
    assert_eq!((read.seen_at, read.proved_at), (Some(proved), Some(proved)));
    assert!(read.is_console() && read.last_used_at() == proved);
    assert!(!store.touch_session(&ada, "console", "other", later, None).await.unwrap(), "another secret");
    assert!(!store.touch_session(&ada, "gone", "h", later, None).await.unwrap(), "no such session");
    assert!(store.session(&ada, "gone").await.unwrap().is_none(), "a touch makes nothing");
}

pub async fn a_challenge_is_looked_at_without_being_taken(store: Arc<impl Stores>) {
    let challenge = OneTimeToken {
        hash: format!("challenge-{}", uuid::Uuid::now_v7().simple()),
        kind: TokenKind::LoginChallenge,
        user_id: UserId::generate(),
        email_key: "ada@example.com".into(),
        expires_at: now() + Duration::minutes(5),
        credential_version: 2,
        reset_generation: 0,
        // A passkey ceremony's state rides with the challenge, and comes back whole.
        payload: Some(r#"{"ast":{"challenge":"dGVzdA","credentials":[]}}"#.into()),
    };
    store.put_token(&challenge).await.unwrap();
    assert_eq!(store.peek_token(TokenKind::PasswordReset, &challenge.hash).await.unwrap(), None, "another kind");
    assert_eq!(store.peek_token(TokenKind::LoginChallenge, &challenge.hash).await.unwrap(), Some(challenge.clone()));
    assert_eq!(store.peek_token(TokenKind::LoginChallenge, &challenge.hash).await.unwrap(), Some(challenge.clone()));
    assert_eq!(store.take_token(TokenKind::LoginChallenge, &challenge.hash).await.unwrap(), Some(challenge.clone()));
    assert_eq!(store.peek_token(TokenKind::LoginChallenge, &challenge.hash).await.unwrap(), None);

    let sign_in = OneTimeToken { kind: TokenKind::PasskeySignIn, payload: None, ..challenge.clone() };
    store.put_token(&sign_in).await.unwrap();
    assert_eq!(store.take_token(TokenKind::LoginChallenge, &sign_in.hash).await.unwrap(), None, "another kind");
    assert_eq!(store.take_token(TokenKind::PasskeySignIn, &sign_in.hash).await.unwrap(), Some(sign_in.clone()));
    // A decoy's ceremony belongs to no account.
    let decoy = OneTimeToken { hash: format!("{}-decoy", sign_in.hash), user_id: UserId(String::new()), ..sign_in };
    store.put_token(&decoy).await.unwrap();
    assert_eq!(store.take_token(TokenKind::PasskeySignIn, &decoy.hash).await.unwrap(), Some(decoy.clone()));
}

pub async fn factors_are_kept_with_the_account_and_a_code_step_is_spent_once(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    let life = lifecycle(store.as_ref());
    life.begin_totp(&ada, "v1.sealed".into()).await.unwrap();
    life.confirm_totp(&ada, "v1.sealed", 100, vec!["r1".into(), "r2".into()]).await.unwrap();
    let stored = store.account(&ada).await.unwrap().unwrap();
    let totp = stored.factors.totp.as_ref().unwrap();
    assert_eq!((totp.secret.as_str(), totp.last_step), ("v1.sealed", 100));
    assert_eq!(stored.factors.recovery_codes, ["r1", "r2"]);
    assert!(stored.factors.pending_totp.is_none());

    // Ten requests with the same code (step 101) at once: one is accepted.
    let spends: Vec<_> = (0..10)
        .map(|_| {
            let (store, ada) = (store.clone(), ada.clone());
            tokio::spawn(async move { lifecycle(store.as_ref()).spend_totp_step(&ada, 101, 0).await })
        })
        .collect();
    let mut accepted = 0;
    for spend in spends {
        match spend.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(shared::accounts::AccountError::Factor(_) | shared::accounts::AccountError::Conflict) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(accepted, 1);
    assert!(life.spend_totp_step(&ada, 100, 0).await.is_err(), "an earlier step after a later one");
    assert!(life.spend_recovery_code(&ada, "r1", 0).await.is_ok());
    assert!(life.spend_recovery_code(&ada, "r1", 0).await.is_err(), "a recovery code works once");
    assert_eq!(store.account(&ada).await.unwrap().unwrap().factors.recovery_codes, ["r2"]);
}

pub async fn a_factor_reset_ends_the_sessions_and_keeps_a_racing_login_out(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    let life = lifecycle(store.as_ref());
    life.begin_totp(&ada, "v1.sealed".into()).await.unwrap();
    life.confirm_totp(&ada, "v1.sealed", 1, vec!["r1".into()]).await.unwrap();
    let read_by_a_login = store.account(&ada).await.unwrap().unwrap();
    store.create_session(&session(&ada, "before", "h1"), None).await.unwrap();

    let admin = UserId::generate();
    let reset = life.reset_factors(store.as_ref(), &admin, &ada).await.unwrap();
    assert!(reset.factors.is_empty());
    assert_eq!(store.user_sessions(&ada).await.unwrap(), [], "every session ended");
    // A login that read the account (and its factors) before the reset gets no session after it.
    let late = life.grant_session(read_by_a_login, session(&ada, "late", "h2"), None).await;
    assert!(matches!(late, Err(shared::accounts::AccountError::Conflict)), "{late:?}");
    let filter = RecordFilter { author_id: Some(ada.clone()), ..Default::default() };
    let (audit, _) = store.audit_records(&filter, 10, None).await.unwrap();
    assert!(audit.iter().any(|r| r.action == ModerationAction::ResetFactors && r.actor_id == admin));
}

fn passkey(id: &str) -> shared::domain::PasskeyFactor {
    shared::domain::PasskeyFactor {
        id: id.into(),
        name: format!("key {id}"),
        created_at: now(),
        last_used_at: None,
        // What webauthn-rs keeps is opaque here: a JSON document, kept whole.
        credential: format!(r#"{{"cred":{{"cred_id":"{id}","counter":0,"cred":{{"type_":"ES256"}}}}}}"#),
    }
}

pub async fn passkeys_are_kept_with_the_account_and_staff_keep_one(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    let life = lifecycle(store.as_ref());
    let k1 = passkey("k1");
    life.add_passkey(&ada, k1.clone(), 0, vec!["r1".into()]).await.unwrap();
    let stored = store.account(&ada).await.unwrap().unwrap();
    assert_eq!(stored.factors.passkeys, [k1], "kept whole");
    assert_eq!(stored.factors.recovery_codes, ["r1"], "the first factor's recovery codes");
    let again = life.add_passkey(&ada, passkey("k1"), 0, vec![]).await;
    assert!(matches!(again, Err(shared::accounts::AccountError::Factor(_))), "{again:?}");
    let stale = life.add_passkey(&ada, passkey("k2"), 7, vec![]).await;
    assert!(
        matches!(stale, Err(shared::accounts::AccountError::Conflict)),
        "a registration from before a password change"
    );
    life.add_passkey(&ada, passkey("k2"), 0, vec!["other".into()]).await.unwrap();
    assert_eq!(store.account(&ada).await.unwrap().unwrap().factors.recovery_codes, ["r1"], "codes kept");

    // A use records its time and the credential as the answer left it, only while the stored
    // one is what the answer was checked against: a second answer checked against the same
    // (a clone's, or one racing it) is refused.
    let update = |credential: &str| shared::accounts::PasskeyUpdate {
        checked_against: passkey("k2").credential,
        credential: credential.into(),
    };
    let used = life.use_passkey(&ada, "k2", Some(update("{\"counter\":1}")), 0).await.unwrap();
    let k2 = used.factors.passkeys.iter().find(|p| p.id == "k2").unwrap();
    assert!(k2.last_used_at.is_some());
    assert_eq!(k2.credential, "{\"counter\":1}");
    let cloned = life.use_passkey(&ada, "k2", Some(update("{\"counter\":1}")), 0).await;
    assert!(matches!(cloned, Err(shared::accounts::AccountError::Factor(_))), "{cloned:?}");
    life.use_passkey(&ada, "k2", None, 0).await.expect("a use that moves no counter");
    assert!(life.use_passkey(&ada, "gone", None, 0).await.is_err());

    // Staff keep their last factor; the last passkey of anyone else takes the codes with it.
    let staff = User { role: Role::Moderator, ..user(&format!("{}@example.com", uuid::Uuid::now_v7().simple())) };
    store.create_account(&staff).await.unwrap();
    let grace = staff.id;
    life.add_passkey(&grace, passkey("g1"), 0, vec![]).await.unwrap();
    let last = life.remove_passkey(&grace, "g1").await;
    assert!(matches!(last, Err(shared::accounts::AccountError::Factor(_))), "{last:?}");
    life.remove_passkey(&ada, "k1").await.unwrap();
    let removed = life.remove_passkey(&ada, "k2").await.unwrap();
    assert!(removed.factors.is_empty(), "{:?}", removed.factors);
}

pub async fn security_activity_is_read_newest_first_page_by_page_and_gone_after_90_days(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    let start = now() - Duration::days(94);
    // One entry a day for 95 days, the last today: the first five are past their 90 days.
    let kinds = [ActivityKind::SignedIn, ActivityKind::SignInFailed, ActivityKind::PasswordChanged];
    let mut written = Vec::new();
    for day in 0..95 {
        let mut entry = ActivityEntry::new(&ada, kinds[day % 3], start + Duration::days(day as i64));
        entry.source = Some("203.0.113.7".into());
        entry.device = (day % 2 == 0).then(|| "Firefox on Linux".to_string());
        entry.detail = format!("day {day}");
        store.record_activity(&entry).await.unwrap();
        written.push(entry);
    }
    let someone_else = account(&store).await;
    store.record_activity(&ActivityEntry::new(&someone_else, ActivityKind::SignedIn, now())).await.unwrap();

    let mut read = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = store.activity(&ada, now(), 20, before.as_deref()).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| e.id.clone());
        read.extend(page);
    }
    let expected: Vec<ActivityEntry> = written.into_iter().filter(|e| e.expires_at() > now()).rev().collect();
    assert_eq!(read.len(), expected.len(), "the kept ones, each once");
    assert_eq!(read, expected, "newest first, whole");
    assert_eq!(read.len(), 90, "the last 90 days' of 95");
    assert_eq!(ACTIVITY_RETENTION, Duration::days(90));

    // A deleted account's activity goes with it; nobody else's does.
    store.delete_user_activity(&ada).await.unwrap();
    assert_eq!(store.activity(&ada, now(), 20, None).await.unwrap(), []);
    assert_eq!(store.activity(&someone_else, now(), 20, None).await.unwrap().len(), 1);
}

pub async fn a_new_device_is_remembered_once_whatever_logins_race(store: Arc<impl Stores>) {
    let ada = account(&store).await;
    let life = lifecycle(store.as_ref());
    assert!(!life.remember_device(&ada, "first").await.unwrap(), "the first device has nothing to compare with");
    assert!(!life.remember_device(&ada, "first").await.unwrap(), "known");
    // Five logins from one new device at once: one of them alerts.
    let racing: Vec<_> = (0..5)
        .map(|_| {
            let (store, ada) = (store.clone(), ada.clone());
            tokio::spawn(async move { lifecycle(store.as_ref()).remember_device(&ada, "phone").await })
        })
        .collect();
    let mut alerted = 0;
    for login in racing {
        // A login that lost the race three times remembers nothing (and alerts nothing).
        if let Ok(true) = login.await.unwrap() {
            alerted += 1;
        }
    }
    assert_eq!(alerted, 1);
    // At most MAX_KNOWN_DEVICES: the oldest is forgotten first.
    for n in 0..shared::domain::MAX_KNOWN_DEVICES {
        life.remember_device(&ada, &format!("device {n}")).await.unwrap();
    }
    let known = store.account(&ada).await.unwrap().unwrap().known_devices;
    assert_eq!(known.len(), shared::domain::MAX_KNOWN_DEVICES);
    assert!(!known.contains(&"first".to_string()) && !known.contains(&"phone".to_string()), "{known:?}");
    assert!(life.remember_device(&ada, "first").await.unwrap(), "forgotten, so new again");
}

fn linked(provider: &str, subject: &str) -> shared::domain::LinkedIdentity {
    shared::domain::LinkedIdentity {
        provider: provider.into(),
        subject: subject.into(),
        email: Some("someone@example.com".into()),
        linked_at: now(),
    }
}

pub async fn two_first_sign_ins_of_one_identity_make_one_account(store: Arc<impl Stores>) {
    // Ten sign-ins at once, each with another address: only the identity is shared.
    let attempts: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            let mut candidate = user(&format!("racer{i}@example.com"));
            candidate.identities.push(linked("test", "subject-1"));
            tokio::spawn(async move { store.create_account(&candidate).await.map(|()| candidate.id) })
        })
        .collect();
    let mut made = Vec::new();
    let mut taken = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(id) => made.push(id),
            Err(StoreError::IdentityTaken) => taken += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((made.len(), taken), (1, 9));
    let owner = store.account_by_identity("test", "subject-1").await.unwrap().unwrap();
    assert_eq!(owner.id, made[0]);
    // The refused ones left nothing behind, their addresses included.
    let loser = (0..10).map(|i| format!("racer{i}@example.com")).find(|e| *e != owner.email.to_string()).unwrap();
    assert!(store.account_by_email(&loser).await.unwrap().is_none());
    assert!(store.account_by_identity("test", "subject-2").await.unwrap().is_none());
    assert!(store.account_by_identity("other", "subject-1").await.unwrap().is_none(), "one provider's subject only");
}

pub async fn an_identity_is_linked_and_unlinked_by_account_writes_and_freed_with_the_account(store: Arc<impl Stores>) {
    let ada = user("ada@example.com");
    let grace = user("grace@example.com");
    store.create_account(&ada).await.unwrap();
    store.create_account(&grace).await.unwrap();

    let mut ada = store.account(&ada.id).await.unwrap().unwrap();
    ada.identities.push(linked("test", "ada"));
    store.update_account(&ada).await.unwrap();
    let ada = store.account(&ada.id).await.unwrap().unwrap();
    assert_eq!(store.account_by_identity("test", "ada").await.unwrap().unwrap().id, ada.id);

    // Grace cannot link it, and her write changes nothing else either.
    let mut grace = store.account(&grace.id).await.unwrap().unwrap();
    grace.identities.push(linked("test", "ada"));
    grace.profile.first_name = "Changed".into();
    let taken = store.update_account(&grace).await;
    assert!(matches!(taken, Err(StoreError::IdentityTaken)), "{taken:?}");
    assert_eq!(store.account(&grace.id).await.unwrap().unwrap().profile.first_name, "Ada");

    // Unlinked, it is free for another account; a stale write cannot bring it back.
    let mut unlinked = ada.clone();
    unlinked.identities.clear();
    store.update_account(&unlinked).await.unwrap();
    assert!(store.account_by_identity("test", "ada").await.unwrap().is_none());
    let stale = store.update_account(&ada).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let mut grace = store.account(&grace.id).await.unwrap().unwrap();
    grace.identities.push(linked("test", "ada"));
    store.update_account(&grace).await.unwrap();
    let grace = store.account(&grace.id).await.unwrap().unwrap();
    assert_eq!(store.account_by_identity("test", "ada").await.unwrap().unwrap().id, grace.id);

    // A write keeping the identities keeps them linked.
    let mut renamed = grace.clone();
    renamed.profile.first_name = "Grace".into();
    store.update_account(&renamed).await.unwrap();
    assert_eq!(store.account_by_identity("test", "ada").await.unwrap().unwrap().profile.first_name, "Grace");

    let grace = store.account(&grace.id).await.unwrap().unwrap();
    store.delete_account(&grace).await.unwrap();
    assert!(store.account_by_identity("test", "ada").await.unwrap().is_none());
    let mut again = user("again@example.com");
    again.identities.push(linked("test", "ada"));
    store.create_account(&again).await.unwrap();
}

macro_rules! for_each_case {
    ($runner:ident) => {
        $runner!(
            accounts_are_found_by_id_and_by_email_in_any_case,
            an_email_in_another_case_is_taken,
            twenty_concurrent_registrations_of_one_email_make_one_account,
            an_email_change_moves_the_unique_email,
            an_update_without_an_email_change_replaces_the_account,
            an_update_from_a_stale_read_is_refused,
            a_pending_registration_gives_its_address_to_a_new_one,
            a_session_is_written_only_at_the_current_credential,
            a_refresh_rotates_once_and_a_replay_is_told_apart,
            concurrent_refreshes_with_one_token_rotate_once,
            ending_all_sessions_ends_only_that_users,
            a_token_is_taken_once_and_only_as_its_kind,
            concurrent_takes_of_one_token_succeed_once,
            a_token_put_again_replaces_the_one_before_and_its_uses,
            parallel_uses_of_a_code_are_counted_to_its_limit,
            a_conditional_take_leaves_a_newer_token_alone,
            a_burst_of_parallel_attempts_gets_no_more_than_the_policy_allows,
            a_password_check_is_counted_beside_the_address_it_names,
            counters_count_atomically,
            accounts_are_listed_page_by_page_through_signed_cursors,
            a_deleted_account_frees_its_email_and_a_stale_delete_is_refused,
            the_last_active_admin_can_be_neither_deleted_demoted_nor_suspended,
            two_admins_removing_each_other_at_once_leave_one,
            a_users_emailed_tokens_go_with_the_account,
            parallel_reports_by_one_reporter_file_one_open_report,
            a_flag_closes_its_reports_all_or_nothing,
            moderation_records_are_listed_newest_first_page_by_page,
            parallel_subscriptions_count_once_and_only_authors_are_followed,
            a_delivery_is_claimed_by_one_sender_and_counted_once,
            a_fan_out_moves_each_segment_from_where_it_stands,
            subscribers_are_read_by_id_range_in_id_order,
            accounts_are_read_many_at_once,
            logins_racing_a_suspension_leave_no_session,
            logins_racing_a_demotion_leave_no_session_with_the_old_role,
            an_email_change_takes_an_address_a_pending_registration_held,
            a_deleted_accounts_edges_go_page_by_page_with_their_counts,
            an_audit_record_with_an_end_past_year_9999_is_still_listed,
            a_sessions_sign_in_methods_are_kept,
            a_console_session_is_touched_only_with_its_current_secret,
            a_challenge_is_looked_at_without_being_taken,
            factors_are_kept_with_the_account_and_a_code_step_is_spent_once,
            passkeys_are_kept_with_the_account_and_staff_keep_one,
            security_activity_is_read_newest_first_page_by_page_and_gone_after_90_days,
            a_new_device_is_remembered_once_whatever_logins_race,
            a_factor_reset_ends_the_sessions_and_keeps_a_racing_login_out,
            two_first_sign_ins_of_one_identity_make_one_account,
            an_identity_is_linked_and_unlinked_by_account_writes_and_freed_with_the_account,
        );
    };
}
