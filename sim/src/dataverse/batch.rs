//! `$batch`: a `multipart/mixed` body of requests and change sets; each
//! change set is atomic (all or nothing), at most 1000 requests in all.

use super::store::{Answer, Org, error};

/// The most requests a batch may hold.
pub const MAX_REQUESTS: usize = 1000;

/// One request of a batch.
struct Part {
    content_id: Option<String>,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// What a batch holds, in order.
enum Item {
    Single(Part),
    ChangeSet(Vec<Part>),
}

fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        n.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_owned())
    })
}

fn split_head(s: &str) -> (&str, &str) {
    match (s.find("\r\n\r\n"), s.find("\n\n")) {
        (Some(i), _) => (&s[..i], &s[i + 4..]),
        (None, Some(i)) => (&s[..i], &s[i + 2..]),
        _ => (s, ""),
    }
}

fn headers(head: &str) -> Vec<(String, String)> {
    head.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect()
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A part's headers (lowercase names) and its content.
type Parts<'a> = Vec<(Vec<(String, String)>, &'a str)>;

/// The parts of a multipart body, each with its headers.
fn parts<'a>(body: &'a str, boundary: &str) -> Result<Parts<'a>, String> {
    let delimiter = format!("--{boundary}");
    let mut pieces = body.split(delimiter.as_str());
    pieces.next();
    let mut out = Vec::new();
    for piece in pieces {
        if piece.starts_with("--") {
            return Ok(out);
        }
        let piece = piece.trim_start_matches(['\r', '\n']);
        let (head, rest) = split_head(piece);
        out.push((headers(head), rest));
    }
    Err(format!("the body has no closing delimiter --{boundary}--"))
}

fn request(head: &[(String, String)], text: &str) -> Result<Part, String> {
    let (line, rest) = text
        .split_once('\n')
        .ok_or("a request without a request line")?;
    let mut words = line.split_whitespace();
    let method = words.next().ok_or("a request without a method")?.to_owned();
    let url = words.next().ok_or("a request without a URL")?.to_owned();
    let (h, body) = split_head(rest);
    Ok(Part {
        content_id: header(head, "content-id").map(str::to_owned),
        method,
        url,
        headers: headers(h),
        body: body.trim().to_owned(),
    })
}

fn parse(content_type: &str, body: &str) -> Result<Vec<Item>, String> {
    let boundary = boundary_of(content_type).ok_or("the content type names no boundary")?;
    let mut items = Vec::new();
    for (head, text) in parts(body, &boundary)? {
        let kind = header(&head, "content-type").unwrap_or_default();
        if kind.starts_with("multipart/mixed") {
            let inner = boundary_of(kind).ok_or("a change set without a boundary")?;
            let set = parts(text, &inner)?
                .into_iter()
                .map(|(h, t)| request(&h, t))
                .collect::<Result<Vec<_>, _>>()?;
            items.push(Item::ChangeSet(set));
        } else {
            items.push(Item::Single(request(&head, text)?));
        }
    }
    Ok(items)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        412 => "Precondition Failed",
        _ => "Error",
    }
}

/// One answer as an `application/http` part.
fn write_answer(out: &mut String, boundary: &str, content_id: Option<&str>, a: &Answer) {
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    ));
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!(
        "\r\nHTTP/1.1 {} {}\r\nOData-Version: 4.0\r\n",
        a.status,
        reason(a.status)
    ));
    for (n, v) in &a.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    match &a.body {
        Some(b) => out.push_str(&format!(
            "Content-Type: application/json; odata.metadata=minimal\r\n\r\n{b}\r\n"
        )),
        None => out.push_str("\r\n\r\n"),
    }
}

/// Runs a `$batch`: returns the status, the content type and the body.
/// `execute` runs one request against the organization.
pub fn run(
    org: &mut Org,
    content_type: &str,
    body: &str,
    execute: impl Fn(&mut Org, &str, &str, &[(String, String)], &str) -> Answer,
) -> (u16, String, String) {
    let items = match parse(content_type, body) {
        Ok(items) => items,
        Err(m) => {
            return json_error(error(
                400,
                "0x80048d19",
                format!("The batch request is malformed: {m}"),
            ));
        }
    };
    let count: usize = items
        .iter()
        .map(|i| match i {
            Item::Single(_) => 1,
            Item::ChangeSet(s) => s.len(),
        })
        .sum();
    if count > MAX_REQUESTS {
        return json_error(error(
            400,
            "0x8006088a",
            format!(
                "The number of requests in the batch ({count}) exceeds the maximum of {MAX_REQUESTS}."
            ),
        ));
    }
    let boundary = format!("batchresponse_{}", org.new_guid());
    let mut out = String::new();
    for item in items {
        match item {
            Item::Single(p) => {
                let a = execute(org, &p.method, &p.url, &p.headers, &p.body);
                write_answer(&mut out, &boundary, p.content_id.as_deref(), &a);
            }
            Item::ChangeSet(set) => {
                let before = org.clone();
                let mut answers = Vec::new();
                let mut failed = None;
                for p in &set {
                    let a = execute(org, &p.method, &p.url, &p.headers, &p.body);
                    if a.status >= 400 {
                        failed = Some((p.content_id.clone(), a));
                        break;
                    }
                    answers.push((p.content_id.clone(), a));
                }
                match failed {
                    Some((id, a)) => {
                        *org = before;
                        write_answer(&mut out, &boundary, id.as_deref(), &a);
                    }
                    None => {
                        let inner = format!("changesetresponse_{}", org.new_guid());
                        out.push_str(&format!("--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n"));
                        for (id, a) in &answers {
                            write_answer(&mut out, &inner, id.as_deref(), a);
                        }
                        out.push_str(&format!("--{inner}--\r\n"));
                    }
                }
            }
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    (200, format!("multipart/mixed; boundary={boundary}"), out)
}

fn json_error(a: Answer) -> (u16, String, String) {
    (
        a.status,
        "application/json".into(),
        a.body.unwrap_or_default().to_string(),
    )
}
