//! The photo pipeline on the emulator's S3 and SQS: the upload form S3 takes, the bucket's
//! notification on the photo queue, the photo worker, the profile.

use std::{io::Cursor, sync::Arc};

use base64::Engine;
use serde_json::{Value, json};
use shared::{
    clock::SystemClock,
    domain::{UserId, photo_keys},
    jobs::{PhotoWorker, Worker as _},
    ports::Job,
};
use ums_aws::S3Photos;

use crate::{
    api_on_aws::{AwsApi, PASSWORD, registration},
    emulator::{Queues, Table, photo_bucket, sdk, unique},
};

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb([10, 200, 90]))
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

async fn s3() -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk().await).force_path_style(true).build())
}

/// The bucket announces uploads on `queues`, as template.yaml's notification does.
async fn notify_uploads(bucket: &str, queues: &Queues) {
    let arn = crate::emulator::queue_arn(&queues.client, &queues.url).await;
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
        QueueConfiguration, S3KeyFilter,
    };
    let uploads = FilterRule::builder().name(FilterRuleName::Prefix).value("uploads/").build();
    let queue = QueueConfiguration::builder()
        .queue_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().filter_rules(uploads).build())
                .build(),
        )
        .build()
        .unwrap();
    let configuration = NotificationConfiguration::builder().queue_configurations(queue).build();
    s3().await
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(configuration)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_upload_posted_to_s3_is_announced_on_the_photo_queue_and_becomes_the_photo() {
    let api = AwsApi::start().await;
    let email = format!("{}@example.com", unique("photo"));
    api.call("POST", "/api/v1/auth/register/reader", Some(registration(&email)), None).await;
    let token = api.email_token(&email, "Confirm your email address").await;
    api.call("GET", &format!("/api/v1/auth/confirm_email?token={token}"), None, None).await;
    let (_, tokens) =
        api.call("POST", "/api/v1/auth/login", Some(json!({ "email": email, "password": PASSWORD })), None).await;
    let access = tokens["access_token"].as_str();
    let photo_queue = Queues::create(3).await;
    notify_uploads(&api.bucket, &photo_queue).await;

    let (status, upload) = api.call("PUT", "/api/v1/user/photo", None, access).await;

    assert_eq!(status, 200);
    let fields = upload["form"]["fields"].as_object().unwrap();
    let policy = base64::engine::general_purpose::STANDARD.decode(fields["policy"].as_str().unwrap()).unwrap();
    let policy: Value = serde_json::from_slice(&policy).unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(conditions.contains(&json!(["content-length-range", 1, 5 * 1024 * 1024])), "{policy}");
    assert!(conditions.contains(&json!({ "key": fields["key"] })), "the key is fixed: {policy}");
    assert_eq!(fields["x-amz-algorithm"], "AWS4-HMAC-SHA256");
    assert_eq!(fields["x-amz-signature"].as_str().unwrap().len(), 64);

    // The browser's part: the form and the file, straight to S3.
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.as_str().unwrap().to_string());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(png(300, 200)).file_name("me.png"));
    let posted =
        reqwest::Client::new().post(upload["form"]["url"].as_str().unwrap()).multipart(form).send().await.unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());

    let worker = PhotoWorker {
        accounts: Arc::new(api.table.store()),
        sessions: Arc::new(api.table.store()),
        photos: Arc::new(S3Photos::new(&sdk().await, &api.bucket)),
        clock: Arc::new(SystemClock),
    };
    let (delivered, failed) = photo_queue.deliver_once(&worker, &api.table.store()).await;
    // S3's test message when the notification was set, and the upload's.
    assert_eq!((delivered, failed), (2, 0), "both handled");

    let (_, me) = api.call("GET", "/api/v1/user", None, access).await;
    assert_eq!(me["photo_status"], "ready", "{me}");
    let user_id = me["id"].as_str().unwrap();
    let upload_id = upload["upload_id"].as_str().unwrap();
    let s3 = s3().await;
    let photo =
        s3.get_object().bucket(&api.bucket).key(format!("photos/{user_id}/{upload_id}.jpg")).send().await.unwrap();
    assert_eq!(photo.content_type(), Some("image/jpeg"));
    let bytes = photo.body.collect().await.unwrap().into_bytes();
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (200, 200), "square, never enlarged");
    let left = s3.list_objects_v2().bucket(&api.bucket).prefix(format!("uploads/{user_id}/")).send().await.unwrap();
    assert_eq!(left.key_count(), Some(0), "the upload is gone");
    assert!(me["photo_url"].as_str().unwrap().ends_with(&format!("/photos/{user_id}/{upload_id}.jpg")));

    // Deleting the photo queues its files' deletion for the photo worker.
    let (status, _) = api.call("DELETE", "/api/v1/user/photo", None, access).await;
    assert_eq!(status, 204);
    assert_eq!(api.queues.deliver_once(&worker, &api.table.store()).await, (1, 0), "the deletion job, done");
    let left = s3.list_objects_v2().bucket(&api.bucket).prefix(format!("photos/{user_id}/")).send().await.unwrap();
    assert_eq!(left.key_count(), Some(0), "the photo files are gone");
}

#[tokio::test]
async fn a_deleted_accounts_files_are_deleted_by_the_photo_worker_and_no_one_elses() {
    let (table, bucket, s3) = (Table::create().await, photo_bucket().await, s3().await);
    let (gone, other) = (UserId(unique("gone")), UserId(unique("other")));
    let keys = |user: &UserId| {
        [photo_keys::upload(user, "u1"), photo_keys::photo(user, "p1"), photo_keys::thumbnail(user, "p1")]
    };
    for key in keys(&gone).iter().chain(keys(&other).iter()) {
        s3.put_object().bucket(&bucket).key(key).body(b"jpeg".to_vec().into()).send().await.unwrap();
    }
    let worker = PhotoWorker {
        accounts: Arc::new(table.store()),
        sessions: Arc::new(table.store()),
        photos: Arc::new(S3Photos::new(&sdk().await, &bucket)),
        clock: Arc::new(SystemClock),
    };

    worker.handle(&Job::DeleteAccountPhotos { user_id: gone.clone() }).await.unwrap();
    worker.handle(&Job::DeleteAccountPhotos { user_id: gone.clone() }).await.expect("again: nothing left to delete");

    let left: Vec<String> = s3
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    let mut expected = keys(&other).to_vec();
    expected.sort();
    assert_eq!(left, expected);
}

#[test]
fn the_sample_deletion_event_is_a_job_for_the_photo_worker() {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../events/photo-worker/delete-account-photos.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let jobs = ums_aws::worker::jobs_in(event["Records"][0]["body"].as_str().unwrap()).unwrap();

    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].job,
        Job::DeleteAccountPhotos { user_id: UserId("01936f4e-0000-7000-8000-00000000000a".into()) }
    );
    assert_eq!(jobs[0].job.queue(), shared::ports::Queue::Photo);
}

#[test]
fn the_sample_photo_event_names_its_upload() {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/../events/photo-worker/s3-upload.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap(),
    )
    .unwrap();
    let jobs = ums_aws::worker::jobs_in(event["Records"][0]["body"].as_str().unwrap()).unwrap();

    assert_eq!(jobs.len(), 1);
    assert_eq!(
        serde_json::to_value(&jobs[0].job).unwrap(),
        json!({ "type": "process_photo", "user_id": "01933b5e-7c1a-7b2e-9f3a-6f1c2d3e4f50", "upload_id": "01936f4e-0000-7000-8000-0000000000a1" })
    );
    assert_eq!(
        jobs[0].id, "photo-01936f4e-0000-7000-8000-0000000000a1",
        "the same upload is one job, however often announced"
    );
    assert!(ums_aws::worker::jobs_in(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).unwrap().is_empty());
    assert!(ums_aws::worker::jobs_in(r#"{"Records":[{"s3":{"object":{"key":"uploads/../x"}}}]}"#).is_err());
    // The emulator encodes the slashes; AWS does not: the same upload either way.
    let encoded = r#"{"Records":[{"s3":{"object":{"key":"uploads%2Fu1%2Fp1"}}}]}"#;
    assert_eq!(ums_aws::worker::jobs_in(encoded).unwrap()[0].id, "photo-p1");
}
