//! What is coded and what is deployed are the same thing. For every function: the routes its
//! group declares (path, method and OpenAPI operation, once, in `shared`), its HttpApi events
//! in `template.yaml`, its entries in `CargoLambda.toml` and its sample events in
//! `events/<function>/` are one set. Every job queue has its dead-letter queue and its worker
//! function; the table in the template is the one `aws/dynamodb-table.json` defines.
//! These tests read files only: they need no emulator.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value as Yaml;
use shared::ports::Queue;
use utoipa::openapi::OpenApi;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// The HTTP API route that takes every request no other route matches.
const CATCH_ALL: &str = "$default";

type Routes = BTreeSet<(String, String)>;

/// Each API function and the route group it serves (its `main.rs` says the same).
fn api_functions() -> BTreeMap<&'static str, OpenApi> {
    BTreeMap::from([
        ("auth", shared::auth::routes().split_for_parts().1),
        ("users", shared::users::routes().split_for_parts().1),
        ("moderation", shared::moderation::routes().split_for_parts().1),
        ("social", shared::social::routes().split_for_parts().1),
        ("docs", shared::docs::routes().split_for_parts().1),
        ("providers", shared::providers::routes().split_for_parts().1),
        ("console", shared::console::operations()),
    ])
}

fn coded(doc: &OpenApi) -> Routes {
    let mut routes = Routes::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("PATCH", item.patch.is_some()),
        ];
        for (method, present) in methods {
            if present {
                routes.insert((method.to_string(), path.clone()));
            }
        }
    }
    routes
}

fn template() -> Yaml {
    serde_yaml::from_str(&std::fs::read_to_string(format!("{ROOT}/template.yaml")).unwrap()).unwrap()
}

/// The binary a template function builds (`Metadata.BuildProperties.Binary`).
fn binary(resource: &Yaml) -> Option<&str> {
    resource["Metadata"]["BuildProperties"]["Binary"].as_str()
}

fn events_of_type<'a>(resource: &'a Yaml, kind: &str) -> Vec<&'a Yaml> {
    let Some(events) = resource["Properties"]["Events"].as_mapping() else { return Vec::new() };
    events.values().filter(|event| event["Type"].as_str() == Some(kind)).collect()
}

/// The HttpApi routes each function of the template serves, by binary name.
fn deployed() -> BTreeMap<String, Routes> {
    let template = template();
    let mut functions = BTreeMap::new();
    for resource in template["Resources"].as_mapping().unwrap().values() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let routes: Routes = events_of_type(resource, "HttpApi")
            .into_iter()
            .filter(|event| event["Properties"]["Path"].as_str() != Some(CATCH_ALL))
            .map(|event| {
                let properties = &event["Properties"];
                (
                    properties["Method"].as_str().unwrap().to_uppercase(),
                    properties["Path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if !routes.is_empty() {
            functions.insert(binary(resource).expect("every function names its binary").to_string(), routes);
        }
    }
    functions
}

/// The paths `cargo lambda watch` routes to each function.
fn watched() -> BTreeMap<String, BTreeSet<String>> {
    let config: toml::Table = std::fs::read_to_string(format!("{ROOT}/CargoLambda.toml")).unwrap().parse().unwrap();
    let mut functions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, function) in config["watch"]["router"].as_table().unwrap() {
        if path.starts_with("/{*") {
            continue;
        }
        functions.entry(function.as_str().unwrap().to_string()).or_default().insert(path.clone());
    }
    functions
}

/// The route keys of the sample events in `events/<function>/`.
fn sampled(function: &str) -> Routes {
    let dir = format!("{ROOT}/events/{function}");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    entries
        .map(|entry| {
            let path = entry.unwrap().path();
            let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let route_key = event["routeKey"].as_str().unwrap_or_else(|| panic!("{} has no routeKey", path.display()));
            let (method, path) = route_key.split_once(' ').unwrap();
            (method.to_string(), path.to_string())
        })
        .collect()
}

fn describe(routes: &Routes) -> String {
    routes.iter().map(|(method, path)| format!("{method} {path}")).collect::<Vec<_>>().join(", ")
}

#[test]
fn every_function_deploys_exactly_the_routes_its_group_declares() {
    let deployed = deployed();
    let watched = watched();
    let functions = api_functions();
    assert_eq!(
        deployed.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        functions.keys().copied().collect::<BTreeSet<_>>(),
        "template.yaml's HTTP functions are not the route groups'"
    );
    for (function, doc) in &functions {
        let coded = coded(doc);
        let in_template = &deployed[*function];
        assert!(
            in_template == &coded,
            "{function}: coded but not in template.yaml: [{}]; in template.yaml but not coded: [{}]",
            describe(&coded.difference(in_template).cloned().collect()),
            describe(&in_template.difference(&coded).cloned().collect()),
        );
        let paths: BTreeSet<String> = coded.iter().map(|(_, path)| path.clone()).collect();
        assert_eq!(watched.get(*function), Some(&paths), "{function}: CargoLambda.toml routes other paths");
        let samples = sampled(function);
        assert!(
            samples == coded,
            "{function}: routes with no sample event: [{}]; sample events of no route: [{}]",
            describe(&coded.difference(&samples).cloned().collect()),
            describe(&samples.difference(&coded).cloned().collect()),
        );
    }
    assert_eq!(
        watched.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        functions.keys().copied().collect::<BTreeSet<_>>(),
        "CargoLambda.toml routes to functions that serve no route group"
    );
}

#[test]
fn every_route_throttle_names_a_deployed_route_within_the_accounts_limits() {
    let template = template();
    let routes: BTreeSet<String> =
        deployed().into_values().flatten().map(|(method, path)| format!("{method} {path}")).collect();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let limits = |settings: &serde_yaml::Value| {
        (settings["ThrottlingRateLimit"].as_f64().unwrap(), settings["ThrottlingBurstLimit"].as_u64().unwrap())
    };
    let default = limits(&api["DefaultRouteSettings"]);
    let planned = api["RouteSettings"].as_mapping().expect("the capacity plan's per-route throttles");
    assert!(planned.len() >= 10, "the plan throttles the expensive and the busy routes apart");
    for (route, settings) in planned {
        let route = route.as_str().unwrap();
        assert!(routes.contains(route), "{route} is throttled but not deployed (a misspelt route key is ignored)");
        let (rate, burst) = limits(settings);
        // An HTTP API's account takes 10,000 requests/s with a burst of 5,000 (both regional).
        assert!(rate <= 10_000.0 && burst <= 5_000 && burst as f64 >= rate, "{route}: {rate}/s, burst {burst}");
    }
    assert_eq!(default, (100.0, 200), "the default is docs/scale.md's");
}

#[test]
fn every_function_crate_is_deployed_and_every_deployed_function_has_a_crate() {
    let template = template();
    let deployed: BTreeSet<String> =
        template["Resources"].as_mapping().unwrap().values().filter_map(|r| binary(r).map(str::to_string)).collect();
    let crates: BTreeSet<String> = std::fs::read_dir(format!("{ROOT}/functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(deployed, crates);
}

/// `sam build` runs `cargo lambda build --release`, which aborts on panic unless the release
/// profile says otherwise; the local server's `cargo build --release` unwinds. A `panic` line
/// in the profile would give the functions the unwinding tables back (13% of each zip).
#[test]
fn the_functions_are_built_to_abort_on_panic_and_the_server_to_unwind() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap()).unwrap();
    let release = &manifest["profile"]["release"];
    assert_eq!(release.get("panic"), None, "the release profile names no panic strategy");
}

#[test]
fn every_function_crate_is_optimised_for_size() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(format!("{ROOT}/Cargo.toml")).unwrap()).unwrap();
    let packages = &manifest["profile"]["release"]["package"];
    for function in std::fs::read_dir(format!("{ROOT}/functions")).unwrap() {
        let name = function.unwrap().file_name().into_string().unwrap();
        let level = packages.get(&name).and_then(|p| p.get("opt-level")).and_then(|l| l.as_str());
        assert_eq!(level, Some("z"), "[profile.release.package.{name}] opt-level = \"z\" in Cargo.toml");
    }
}

/// The argument of a short-form intrinsic (`!GetAtt EmailQueue.Arn` -> `EmailQueue.Arn`).
fn intrinsic(value: &Yaml) -> Option<&str> {
    match value {
        Yaml::Tagged(tagged) => tagged.value.as_str(),
        _ => None,
    }
}

/// `email` -> `Email`, as the template names a queue's resources.
fn resource_prefix(queue: Queue) -> String {
    let name = queue.name();
    name[..1].to_uppercase() + &name[1..]
}

#[test]
fn every_queue_has_its_dead_letter_queue_worker_and_sample_event() {
    let template = template();
    let resources = &template["Resources"];
    for queue in Queue::ALL {
        let (prefix, worker) = (resource_prefix(queue), queue.worker().to_string());
        let main = &resources[format!("{prefix}Queue").as_str()];
        assert_eq!(main["Type"].as_str(), Some("AWS::SQS::Queue"), "{prefix}Queue");
        let dlq = intrinsic(&main["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]);
        assert_eq!(
            dlq,
            Some(format!("{prefix}DeadLetterQueue.Arn").as_str()),
            "{prefix}Queue sends its failures to {prefix}DeadLetterQueue"
        );
        if queue != Queue::Delivery {
            let receives = main["Properties"]["RedrivePolicy"]["maxReceiveCount"].as_u64();
            assert_eq!(receives, Some(ums_aws::worker::MAX_RECEIVES as u64), "{prefix}Queue's maxReceiveCount");
        }
        let consumers: Vec<&str> = resources
            .as_mapping()
            .unwrap()
            .values()
            .filter(|r| {
                events_of_type(r, "SQS").iter().any(|event| {
                    let source = intrinsic(&event["Properties"]["Queue"]);
                    source == Some(format!("{prefix}Queue.Arn").as_str())
                })
            })
            .filter_map(binary)
            .collect();
        assert_eq!(consumers, [worker.as_str()], "{prefix}Queue feeds exactly its worker");
        assert!(
            std::fs::read_dir(format!("{ROOT}/events/{worker}")).unwrap().next().is_some(),
            "{worker}'s sample event"
        );
        // Something sends to it: a function given its URL, or a bucket's notifications.
        let senders = resources.as_mapping().unwrap().values().filter(|r| {
            let notifies =
                r["Properties"]["NotificationConfiguration"]["QueueConfigurations"].as_sequence().is_some_and(|c| {
                    c.iter().any(|c| intrinsic(&c["Queue"]) == Some(format!("{prefix}Queue.Arn").as_str()))
                });
            notifies || intrinsic(&r["Properties"]["Environment"]["Variables"][queue.url_variable()]).is_some()
        });
        assert!(senders.count() > 0, "nothing sends to {prefix}Queue: no function has {}", queue.url_variable());
    }
}

/// Work that waits too long is seen: every queue a worker reads has an alarm on the age of its
/// oldest message (the dead-letter queues have theirs on what they hold).
#[test]
fn every_worker_queue_has_an_alarm_on_the_age_of_its_oldest_message() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let read_by_a_worker: Vec<String> = resources
        .values()
        .flat_map(|r| events_of_type(r, "SQS"))
        .filter_map(|event| intrinsic(&event["Properties"]["Queue"]).map(|q| q.trim_end_matches(".Arn").to_string()))
        .collect();
    assert!(read_by_a_worker.len() >= 5, "the worker queues: {read_by_a_worker:?}");
    for queue in read_by_a_worker {
        let alarmed = resources.values().any(|r| {
            let properties = &r["Properties"];
            r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                && properties["MetricName"].as_str() == Some("ApproximateAgeOfOldestMessage")
                && properties["Dimensions"].as_sequence().is_some_and(|d| {
                    d.iter().any(|d| intrinsic(&d["Value"]) == Some(format!("{queue}.QueueName").as_str()))
                })
                && properties["AlarmActions"].as_sequence().is_some_and(|a| !a.is_empty())
        });
        assert!(alarmed, "{queue} has no alarm on ApproximateAgeOfOldestMessage");
    }
}

/// Every metric the code counts (`count_metric("Name", ..)`, an EMF line) has an alarm that
/// tells someone.
#[test]
fn every_metric_the_code_counts_has_an_alarm() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut counted = std::collections::BTreeSet::new();
    for dir in ["shared/src", "aws/src"] {
        for entry in walk(&root.join(dir)) {
            let text = std::fs::read_to_string(&entry).unwrap();
            const CALL: &str = "count_metric(\"";
            for (at, _) in text.match_indices(CALL) {
                counted.insert(text[at + CALL.len()..].split('"').next().unwrap().to_string());
            }
        }
    }
    assert!(counted.len() >= 4, "the counted metrics: {counted:?}");
    for metric in counted {
        let alarmed = resources.values().any(|r| {
            r["Type"].as_str() == Some("AWS::CloudWatch::Alarm")
                && r["Properties"]["Namespace"].as_str() == Some("UMS")
                && r["Properties"]["MetricName"].as_str() == Some(metric.as_str())
                && r["Properties"]["AlarmActions"].as_sequence().is_some_and(|a| !a.is_empty())
        });
        assert!(alarmed, "the metric {metric} has no alarm");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_template_defines_the_table_as_its_definition_says() {
    let template = template();
    let properties = &template["Resources"]["UsersTable"]["Properties"];
    let definition: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{ROOT}/aws/dynamodb-table.json")).unwrap()).unwrap();
    for (key, expected) in definition.as_object().unwrap() {
        let in_template: serde_json::Value = serde_yaml::from_value(properties[key.as_str()].clone()).unwrap();
        assert_eq!(&in_template, expected, "UsersTable.{key} differs from aws/dynamodb-table.json");
    }
}

#[test]
fn the_index_copies_keys_and_filter_attributes_never_a_secret_or_an_address() {
    let definition: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{ROOT}/aws/dynamodb-table.json")).unwrap()).unwrap();
    for index in definition["GlobalSecondaryIndexes"].as_array().unwrap() {
        let projection = &index["Projection"];
        assert_ne!(projection["ProjectionType"], "ALL", "an index projecting ALL copies password hashes");
        let included: Vec<&str> = projection["NonKeyAttributes"]
            .as_array()
            .map(|names| names.iter().map(|n| n.as_str().unwrap()).collect())
            .unwrap_or_default();
        // What the listings filter on: an account's status, a report's state, an edge's time.
        for name in &included {
            assert!(["status", "state", "created_at"].contains(name), "{name} is copied into {}", index["IndexName"]);
        }
    }
}

#[test]
fn what_no_route_matches_goes_to_the_docs_function_on_both_paths() {
    let template = template();
    let catch_alls: Vec<&str> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| events_of_type(r, "HttpApi").iter().any(|e| e["Properties"]["Path"].as_str() == Some(CATCH_ALL)))
        .filter_map(binary)
        .collect();
    assert_eq!(catch_alls, ["docs"], "one $default route, on the docs function");
    let config: toml::Table = std::fs::read_to_string(format!("{ROOT}/CargoLambda.toml")).unwrap().parse().unwrap();
    let watched: Vec<&str> = config["watch"]["router"]
        .as_table()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/{*"))
        .map(|(_, function)| function.as_str().unwrap())
        .collect();
    assert_eq!(watched, ["docs"], "one catch-all path in CargoLambda.toml, to the docs function");
}

/// Each IAM action a function's inline policies allow.
fn allowed_actions(function: &Yaml) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    for policy in function["Properties"]["Policies"].as_sequence().unwrap() {
        for statement in policy["Statement"].as_sequence().unwrap() {
            match &statement["Action"] {
                Yaml::String(action) => actions.insert(action.clone()),
                Yaml::Sequence(list) => {
                    actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string()));
                    true
                }
                other => panic!("an action that is not a name: {other:?}"),
            };
        }
    }
    actions
}

#[test]
fn account_events_flow_from_the_tables_stream_to_the_bus_and_the_webhook_queue_each_step_dead_lettered_with_an_alarm() {
    let template = template();
    let resources = &template["Resources"];
    let events = &resources["EventsFunction"];
    assert_eq!(binary(events), Some("events"));
    let stream = events_of_type(events, "DynamoDB");
    assert_eq!(stream.len(), 1, "the table's stream feeds the events function");
    let source = &stream[0]["Properties"];
    assert_eq!(intrinsic(&source["Stream"]), Some("UsersTable.StreamArn"));
    assert_eq!(source["StartingPosition"].as_str(), Some("TRIM_HORIZON"), "no write before the first run is lost");
    assert_eq!(source["FunctionResponseTypes"][0].as_str(), Some("ReportBatchItemFailures"));
    assert_eq!(intrinsic(&source["DestinationConfig"]["OnFailure"]["Destination"]), Some("EventsDeadLetterQueue.Arn"));
    assert_eq!(
        intrinsic(&events["Properties"]["Environment"]["Variables"]["UMS_EVENT_BUS_NAME"]),
        Some("AccountEventsBus")
    );
    // The filters let through the items events are made of (the sample's), and no session.
    let filters: Vec<String> = source["FilterCriteria"]["Filters"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f["Pattern"].as_str().unwrap().to_string())
        .collect();
    assert!(filters.iter().any(|f| f.contains(r#"["PROFILE"]"#)) && filters.iter().any(|f| f.contains("SUB#")));
    assert!(filters.iter().any(|f| f.contains("FOLLOW#")) && filters.iter().any(|f| f.contains("REPORTS")));
    assert!(filters.iter().any(|f| f.contains("FLAGS")) && !filters.iter().any(|f| f.contains("SESSION")));

    // Least privilege: put on the one bus, look up accounts, read the stream, dead-letter.
    let expected: BTreeSet<String> = [
        "events:PutEvents",
        "dynamodb:BatchGetItem",
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "sqs:SendMessage",
    ]
    .map(String::from)
    .into();
    assert_eq!(allowed_actions(events), expected);
    let worker = &resources["WebhookWorkerFunction"];
    assert_eq!(binary(worker), Some("webhook-worker"));
    let expected: BTreeSet<String> = [
        "ssm:GetParameter",
        "kms:Decrypt",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        allowed_actions(worker),
        expected,
        "the webhook worker reads its endpoints, hands events on to their lanes, delays retries and records their \
         state, nothing else"
    );

    // The bus's rule keeps the order (one message group of a FIFO queue) and dead-letters what
    // it cannot hand over; the queue's receives are about a day of the worker's doubling waits.
    let rule = &resources["AccountEventsToWebhooks"]["Properties"];
    assert_eq!(intrinsic(&rule["EventBusName"]), Some("AccountEventsBus"));
    let target = &rule["Targets"][0];
    assert_eq!(intrinsic(&target["Arn"]), Some("WebhookQueue.Arn"));
    assert!(target["SqsParameters"]["MessageGroupId"].as_str().is_some());
    assert_eq!(intrinsic(&target["DeadLetterConfig"]["Arn"]), Some("EventsDeadLetterQueue.Arn"));
    let queue = &resources["WebhookQueue"]["Properties"];
    assert_eq!(queue["FifoQueue"].as_bool(), Some(true));
    assert_eq!(intrinsic(&queue["RedrivePolicy"]["deadLetterTargetArn"]), Some("WebhookDeadLetterQueue.Arn"));
    let receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() as u32;
    let waited: u64 = (1..receives).map(|n| shared::config::WebhookConfig::default().retry_after(n).as_secs()).sum();
    assert!((22 * 3600..=26 * 3600).contains(&waited), "{receives} receives wait {} hours", waited / 3600);
    let consumers: Vec<&str> = resources
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| {
            events_of_type(r, "SQS").iter().any(|e| intrinsic(&e["Properties"]["Queue"]) == Some("WebhookQueue.Arn"))
        })
        .filter_map(binary)
        .collect();
    assert_eq!(consumers, ["webhook-worker"]);
    for (alarm, queue) in [
        ("EventsDeadLetterQueueAlarm", "EventsDeadLetterQueue"),
        ("WebhookDeadLetterQueueAlarm", "WebhookDeadLetterQueue"),
    ] {
        let dimension = &resources[alarm]["Properties"]["Dimensions"][0]["Value"];
        assert_eq!(intrinsic(dimension), Some(format!("{queue}.QueueName").as_str()), "{alarm}");
    }
    assert_eq!(
        intrinsic(&resources["EventsLateAlarm"]["Properties"]["Dimensions"][0]["Value"]),
        Some("EventsFunction")
    );
    for function in ["events", "webhook-worker"] {
        assert!(
            std::fs::read_dir(format!("{ROOT}/events/{function}")).unwrap().next().is_some(),
            "{function}'s sample event"
        );
    }
}
