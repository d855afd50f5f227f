//! The `$batch` wire format: a change set as `multipart/mixed` (each part
//! an `application/http` request), and the responses read back.

use std::sync::atomic::{AtomicU64, Ordering};

/// One request of a change set.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Request {
    /// `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The absolute URL.
    pub url: String,
    /// The JSON body, for `PATCH`.
    pub body: Option<String>,
}

/// One response of a change set.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Answer {
    /// The `Content-ID` of the request it answers (1-based position).
    pub content_id: Option<usize>,
    /// The HTTP status.
    pub status: u16,
    /// The body (JSON for errors).
    pub body: String,
}

/// A boundary that no JSON body holds: the process, a counter and the
/// time.
fn boundary(kind: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = jiff::Timestamp::now().as_nanosecond();
    format!("{kind}_{:x}{n:x}{t:x}", std::process::id())
}

/// A `$batch` body of one change set holding `requests`, and its content
/// type (with the boundary).
pub(super) fn change_set(requests: &[Request]) -> (String, Vec<u8>) {
    let batch = boundary("batch");
    let set = boundary("changeset");
    let mut out = String::new();
    out.push_str(&format!(
        "--{batch}\r\nContent-Type: multipart/mixed;boundary={set}\r\n\r\n"
    ));
    for (i, r) in requests.iter().enumerate() {
        out.push_str(&format!(
            "--{set}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n",
            i + 1
        ));
        out.push_str(&format!("{} {} HTTP/1.1\r\n", r.method, r.url));
        match &r.body {
            Some(body) => {
                out.push_str("Content-Type: application/json;type=entry\r\n\r\n");
                out.push_str(body);
                out.push_str("\r\n");
            }
            None => out.push_str("\r\n"),
        }
    }
    out.push_str(&format!("--{set}--\r\n--{batch}--\r\n"));
    (
        format!("multipart/mixed;boundary={batch}"),
        out.into_bytes(),
    )
}

/// The boundary parameter of a content type.
pub(super) fn boundary_of(content_type: &str) -> Option<&str> {
    content_type.split(';').find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"'))
    })
}

/// A part's headers (lowercase names) and its content.
type Parts<'a> = Vec<(Vec<(String, String)>, &'a str)>;

/// The parts of a multipart body: each part's headers and body.
fn parts<'a>(body: &'a str, boundary: &str) -> Result<Parts<'a>, String> {
    let delimiter = format!("--{boundary}");
    let mut pieces = body.split(delimiter.as_str());
    pieces.next(); // the preamble
    let mut out = Vec::new();
    for piece in pieces {
        if piece.starts_with("--") {
            return Ok(out);
        }
        let piece = piece
            .strip_prefix("\r\n")
            .or_else(|| piece.strip_prefix('\n'))
            .unwrap_or(piece);
        let (head, rest) = split_head(piece);
        out.push((headers(head), rest));
    }
    Err(format!(
        "the multipart body has no closing boundary --{boundary}--"
    ))
}

/// Splits a part at its first empty line.
fn split_head(s: &str) -> (&str, &str) {
    if let Some(i) = s.find("\r\n\r\n") {
        (&s[..i], &s[i + 4..])
    } else if let Some(i) = s.find("\n\n") {
        (&s[..i], &s[i + 2..])
    } else {
        (s, "")
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

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads the answers of a `$batch` response: a change set's answers, or
/// the single error answer Dataverse gives for a change set that failed.
pub(super) fn answers(content_type: &str, body: &str) -> Result<Vec<Answer>, String> {
    let boundary = boundary_of(content_type)
        .ok_or_else(|| format!("the content type {content_type:?} names no boundary"))?;
    let mut out = Vec::new();
    for (head, part) in parts(body, boundary)? {
        let kind = header(&head, "content-type").unwrap_or_default();
        if kind.starts_with("multipart/mixed") {
            let inner = boundary_of(kind).ok_or_else(|| {
                format!("the change set's content type {kind:?} names no boundary")
            })?;
            for (head, part) in parts(part, inner)? {
                out.push(answer(&head, part)?);
            }
        } else {
            out.push(answer(&head, part)?);
        }
    }
    Ok(out)
}

/// One `application/http` answer: `HTTP/1.1 204 No Content`, headers, body.
fn answer(head: &[(String, String)], part: &str) -> Result<Answer, String> {
    let content_id = header(head, "content-id").and_then(|v| v.parse().ok());
    let (status_line, rest) = part
        .split_once('\n')
        .ok_or_else(|| "an answer of the batch has no status line".to_owned())?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {:?}", status_line.trim()))?;
    let (_, body) = split_head(rest);
    Ok(Answer {
        content_id,
        status,
        body: body.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_sets_are_multipart() {
        let (ct, body) = change_set(&[
            Request {
                method: "PATCH",
                url: "http://x/api/data/v9.2/accounts(accountnumber='A')".into(),
                body: Some("{\"name\":\"n\"}".into()),
            },
            Request {
                method: "DELETE",
                url: "http://x/api/data/v9.2/accounts(g)".into(),
                body: None,
            },
        ]);
        let body = String::from_utf8(body).unwrap();
        let b = boundary_of(&ct).unwrap();
        assert!(body.starts_with(&format!("--{b}\r\n")));
        assert!(body.contains(
            "Content-ID: 2\r\n\r\nDELETE http://x/api/data/v9.2/accounts(g) HTTP/1.1\r\n"
        ));
        assert!(body.ends_with(&format!("--{b}--\r\n")));
    }

    #[test]
    fn answers_of_a_change_set_and_of_a_failure() {
        let ok = "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n\
                  --changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n\
                  HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n\r\n\r\n\
                  --changesetresponse_2--\r\n--batchresponse_1--\r\n";
        let a = answers("multipart/mixed; boundary=batchresponse_1", ok).unwrap();
        assert_eq!(
            a,
            vec![Answer {
                content_id: Some(1),
                status: 204,
                body: String::new()
            }]
        );
        let failed = "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n\
                      HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80040217\",\"message\":\"gone\"}}\r\n\
                      --batchresponse_1--\r\n";
        let a = answers("multipart/mixed;boundary=batchresponse_1", failed).unwrap();
        assert_eq!((a[0].content_id, a[0].status), (Some(2), 404));
        assert!(a[0].body.contains("0x80040217"));
        assert!(
            answers(
                "multipart/mixed;boundary=b",
                "--b\r\n\r\nHTTP/1.1 200 OK\r\n"
            )
            .is_err()
        );
    }
}
