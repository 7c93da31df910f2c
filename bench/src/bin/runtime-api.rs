//! A stand-in for the Lambda Runtime API that times cold starts.
//!
//! For each run it starts the function binary afresh (a cold start), hands it the events one
//! after another as `GET /2018-06-01/runtime/invocation/next` asks for them, and when each
//! answer arrives notes the time since the binary was started and the process's peak resident
//! memory so far (`VmHWM`). Then it kills the process. One JSON line per run on stdout:
//!
//!     {"answers_ms":[7.91,9.02],"peak_rss_kib":[11208,30560],"statuses":[200,200]}
//!
//! `statuses` are the HTTP statuses of API Gateway answers (0 for other events).
//!
//!     runtime-api --runs 15 --event events/auth/jwks.json [--event ...] -- target/release/auth

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

struct Args {
    runs: usize,
    events: Vec<String>,
    command: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut runs, mut events) = (10, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).ok_or("--runs takes a number")?,
            "--event" => events
                .push(std::fs::read_to_string(args.next().ok_or("--event takes a file")?).map_err(|e| e.to_string())?),
            "--" => {
                let command: Vec<String> = args.collect();
                if command.is_empty() || events.is_empty() {
                    return Err("give at least one --event and a command after --".into());
                }
                return Ok(Args { runs, events, command });
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Err("missing -- and the function's command".into())
}

/// One HTTP/1.1 request as the runtime client sends it.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, body }))
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// What the connections tell the run.
enum Note {
    /// The answer to event `index`, and the status it carried.
    Answered {
        index: usize,
        status: u16,
    },
    Failed(String),
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Serves one connection of the runtime client: the next event, or nothing once all are out.
fn serve(stream: TcpStream, events: &[String], next: &std::sync::Mutex<usize>, notes: &mpsc::Sender<Note>) {
    let mut writer = stream.try_clone().expect("a socket clones");
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = read_request(&mut reader) {
        if request.method == "GET" && request.path.ends_with("/invocation/next") {
            let index = {
                let mut next = next.lock().unwrap();
                *next += 1;
                *next - 1
            };
            let Some(event) = events.get(index) else {
                // Every event is answered: the run is over and the process is killed.
                std::thread::sleep(Duration::from_secs(60));
                return;
            };
            let deadline =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(30);
            let headers = [
                ("content-type", "application/json".to_string()),
                ("lambda-runtime-aws-request-id", format!("request-{index}")),
                ("lambda-runtime-deadline-ms", deadline.as_millis().to_string()),
                ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench".into()),
                ("lambda-runtime-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into()),
            ];
            if respond(&mut writer, "200 OK", &headers, event.as_bytes()).is_err() {
                return;
            }
        } else if let Some(rest) = request.path.strip_prefix("/2018-06-01/runtime/invocation/request-") {
            let index: usize = rest.split('/').next().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
            let note = if rest.ends_with("/response") {
                let status = api_gateway_status(&request.body);
                Note::Answered { index, status }
            } else {
                Note::Failed(String::from_utf8_lossy(&request.body).into_owned())
            };
            let _ = notes.send(note);
            let _ = respond(&mut writer, "202 Accepted", &[], b"{}");
        } else {
            let _ = notes.send(Note::Failed(format!(
                "{} {}: {}",
                request.method,
                request.path,
                String::from_utf8_lossy(&request.body)
            )));
            let _ = respond(&mut writer, "202 Accepted", &[], b"{}");
        }
    }
}

/// The `statusCode` of an API Gateway answer, 0 for anything else.
fn api_gateway_status(body: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(body);
    let Some(at) = text.find("\"statusCode\":") else { return 0 };
    text[at + 13..].trim_start().chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}

fn run_once(args: &Args, listener: &TcpListener) -> Result<String, String> {
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let (notes, received) = mpsc::channel();
    let next = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let started = Instant::now();
    let mut child: Child = Command::new(&args.command[0])
        .args(&args.command[1..])
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", args.command[0]))?;
    let pid = child.id();
    let listener = listener.try_clone().map_err(|e| e.to_string())?;
    let events = std::sync::Arc::new(args.events.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (events, next, notes) = (events.clone(), next.clone(), notes.clone());
            std::thread::spawn(move || serve(stream, &events, &next, &notes));
        }
    });
    let (mut answers, mut rss, mut statuses) = (Vec::new(), Vec::new(), Vec::new());
    let result = loop {
        if answers.len() == args.events.len() {
            break Ok(());
        }
        match received.recv_timeout(Duration::from_secs(30)) {
            Ok(Note::Answered { index, status }) if index == answers.len() => {
                answers.push(started.elapsed().as_secs_f64() * 1000.0);
                rss.push(peak_rss_kib(pid));
                statuses.push(status);
            }
            Ok(Note::Answered { index, .. }) => break Err(format!("an answer to event {index} out of order")),
            Ok(Note::Failed(body)) => break Err(format!("the function reported an error: {body}")),
            Err(_) => break Err("no answer within 30 s".into()),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result?;
    let answers: Vec<String> = answers.iter().map(|ms| format!("{ms:.3}")).collect();
    let rss: Vec<String> = rss.iter().map(u64::to_string).collect();
    let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
    Ok(format!(
        "{{\"answers_ms\":[{}],\"peak_rss_kib\":[{}],\"statuses\":[{}]}}",
        answers.join(","),
        rss.join(","),
        statuses.join(",")
    ))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("runtime-api: {message}");
            std::process::exit(2);
        }
    };
    for _ in 0..args.runs {
        // A fresh port per run, so a killed process's connections cannot reach the next one.
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        match run_once(&args, &listener) {
            Ok(line) => println!("{line}"),
            Err(message) => {
                eprintln!("runtime-api: {}: {message}", args.command[0]);
                std::process::exit(1);
            }
        }
    }
}
