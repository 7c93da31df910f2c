//! The exact shapes the auth group accepts, for its OpenAPI document: a request the document
//! calls valid is one the service takes (the rules themselves live in `domain`).

use std::sync::LazyLock;

use utoipa::openapi::{
    ObjectBuilder, SchemaFormat,
    schema::{Object, SchemaType, Type},
};

use crate::domain::email::INVISIBLE_RANGES;

/// A regular-expression character class body listing every character the domain refuses in
/// text shown to others (`is_invisible`, listed as `INVISIBLE_RANGES`), but those in
/// `allowed`, as literal ranges.
fn invisible_class(allowed: &[char]) -> String {
    let mut class = String::new();
    let mut run: Option<(char, char)> = None;
    let close = |run: (char, char), class: &mut String| {
        class.push(run.0);
        if run.1 != run.0 {
            class.push('-');
            class.push(run.1);
        }
    };
    for c in INVISIBLE_RANGES.iter().flat_map(|&(first, last)| first..=last) {
        if !allowed.contains(&c) {
            run = match run {
                Some((start, end)) if end as u32 + 1 == c as u32 => Some((start, c)),
                Some(done) => {
                    close(done, &mut class);
                    Some((c, c))
                }
                None => Some((c, c)),
            };
        }
    }
    if let Some(done) = run {
        close(done, &mut class);
    }
    class
}

static INVISIBLE: LazyLock<String> = LazyLock::new(|| invisible_class(&[]));
static INVISIBLE_BUT_LINES: LazyLock<String> = LazyLock::new(|| invisible_class(&['\n', '\t']));

fn string(nullable: bool) -> ObjectBuilder {
    let kind =
        if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { SchemaType::Type(Type::String) };
    ObjectBuilder::new().schema_type(kind)
}

/// A name: 1 to `max` characters, something besides spaces, nothing invisible.
fn name(max: usize, nullable: bool) -> Object {
    let x = INVISIBLE.as_str();
    let pattern = if nullable { format!("^[^{x}]*$") } else { format!("^[^{x}]*[^ {x}][^{x}]*$") };
    string(nullable).max_length(Some(max)).pattern(Some(pattern)).build()
}

pub fn first_name() -> Object {
    name(100, false)
}

pub fn last_name() -> Object {
    name(100, false)
}

pub fn nickname() -> Object {
    name(50, true)
}

pub fn bio() -> Object {
    text(1000, false)
}

/// Text of one or more lines: up to `max` characters, tabs and line breaks allowed but nothing
/// else invisible; `required`: something besides white space (and not null).
fn text(max: usize, required: bool) -> Object {
    let y = INVISIBLE_BUT_LINES.as_str();
    let pattern = if required { format!("^[^{y}]*[^ \\t\\n{y}][^{y}]*$") } else { format!("^[^{y}]*$") };
    string(!required).max_length(Some(max)).pattern(Some(pattern)).build()
}

/// A moderation reason: 1 to 1000 characters of text.
pub fn reason() -> Object {
    text(1000, true)
}

/// A reason that may be left out.
pub fn optional_reason() -> Object {
    text(1000, false)
}

/// An email's subject: 1 to 200 characters on one line.
pub fn subject() -> Object {
    name(200, false)
}

/// A message to subscribers: up to 10000 characters of text.
pub fn message() -> Object {
    text(10_000, false)
}

pub fn email() -> Object {
    string(false)
        .format(Some(SchemaFormat::Custom("email".into())))
        .max_length(Some(254))
        .description(Some(
            "An email address with a domain name (no IP literal) and no invisible characters; compared and \
             mailed in its canonical form (local part case-folded, domain in IDNA ASCII form).",
        ))
        .examples(["ada@example.com"])
        .build()
}

pub fn new_password() -> Object {
    string(false)
        .min_length(Some(8))
        .max_length(Some(128))
        .description(Some("8 to 128 characters; the most common passwords are refused."))
        .examples(["correct horse battery staple"])
        .build()
}

/// The token of an emailed link: 32 random bytes, base64url.
pub fn emailed_token() -> Object {
    string(false).pattern(Some("^[A-Za-z0-9_-]{43}$")).build()
}

/// `<user id>.<session id>.<secret>`.
pub fn refresh_token() -> Object {
    string(false).pattern(Some(r"^[^.]{1,64}\.[^.]{1,64}\.[A-Za-z0-9_-]{43}$")).build()
}
