//! Metrics the service counts, as CloudWatch Embedded Metric Format lines (no SDK call).

/// Counts an event as a CloudWatch metric: one Embedded Metric Format line on standard output,
/// which Lambda's logs turn into a metric (namespace `UMS`) with no SDK call; the template's
/// alarms watch them. Locally the line is in the server's output.
pub fn count_metric(name: &str, count: u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": now as u64,
            "CloudWatchMetrics": [{ "Namespace": "UMS", "Dimensions": [[]], "Metrics": [{ "Name": name, "Unit": "Count" }] }]
        },
        name: count,
    });
    println!("{line}");
}
