//! The OData pieces of Dataverse URLs: percent-decoding, query options,
//! resource paths with key predicates, and `$filter` expressions of `eq`,
//! `and`, `or` and parentheses.

use serde_json::{Map, Value};

/// Percent-decodes text; `+` is a space when `plus` (query strings).
pub fn decode(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(if b == b'+' && plus { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The options of a query string, decoded, in order.
pub fn query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

/// The value of a query option.
pub fn option<'a>(options: &'a [(String, String)], name: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// How a request names a row.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyPredicate {
    /// `accounts(00000000-...)`.
    Id(String),
    /// `accounts(accountnumber='A-1')`, one or more columns.
    Alternate(Vec<(String, Value)>),
}

/// Splits a decoded resource path, `accounts` or `accounts(...)`.
pub fn resource(path: &str) -> Result<(String, Option<KeyPredicate>), String> {
    let Some(open) = path.find('(') else {
        return Ok((path.to_owned(), None));
    };
    let set = path[..open].to_owned();
    let inner = path[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("the key predicate of {path:?} is not closed"))?;
    let mut lexer = Lexer::new(inner);
    let first = lexer.token()?;
    if lexer.peek_is('=') {
        let mut parts = Vec::new();
        let mut name = first;
        loop {
            let Token::Name(n) = name else {
                return Err(format!("bad key predicate {inner:?}"));
            };
            lexer.expect('=')?;
            let value = lexer.literal()?;
            parts.push((n, value));
            match lexer.token()? {
                Token::End => break,
                Token::Punct(',') => name = lexer.token()?,
                t => return Err(format!("unexpected {t:?} in key predicate {inner:?}")),
            }
        }
        return Ok((set, Some(KeyPredicate::Alternate(parts))));
    }
    match (first, lexer.token()?) {
        (Token::Name(id) | Token::Text(id) | Token::Number(id), Token::End) => {
            Ok((set, Some(KeyPredicate::Id(id))))
        }
        _ => Err(format!("bad key predicate {inner:?}")),
    }
}

/// A `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `name eq literal`.
    Eq(String, Value),
    /// All of them.
    And(Vec<Filter>),
    /// Any of them.
    Or(Vec<Filter>),
}

impl Filter {
    /// Parses a `$filter` of `eq`, `and`, `or` and parentheses.
    pub fn parse(s: &str) -> Result<Filter, String> {
        let mut lexer = Lexer::new(s);
        let f = lexer.or()?;
        match lexer.token()? {
            Token::End => Ok(f),
            t => Err(format!("unexpected {t:?} in $filter")),
        }
    }

    /// Whether a row matches.
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        match self {
            Filter::Eq(name, v) => same(row.get(name).unwrap_or(&Value::Null), v),
            Filter::And(fs) => fs.iter().all(|f| f.matches(row)),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(row)),
        }
    }
}

/// Whether two values are equal as Dataverse compares them (numbers by
/// value).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Text(String),
    Number(String),
    Punct(char),
    End,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Lexer {
            chars: s.chars().peekable(),
        }
    }

    fn skip_space(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn peek_is(&mut self, c: char) -> bool {
        self.skip_space();
        self.chars.peek() == Some(&c)
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.token()? {
            Token::Punct(p) if p == c => Ok(()),
            t => Err(format!("expected {c:?}, found {t:?}")),
        }
    }

    fn token(&mut self) -> Result<Token, String> {
        self.skip_space();
        let Some(&c) = self.chars.peek() else {
            return Ok(Token::End);
        };
        if c == '\'' {
            self.chars.next();
            let mut s = String::new();
            loop {
                match self.chars.next() {
                    Some('\'') if self.chars.peek() == Some(&'\'') => {
                        self.chars.next();
                        s.push('\'');
                    }
                    Some('\'') => return Ok(Token::Text(s)),
                    Some(ch) => s.push(ch),
                    None => return Err("a string literal is not closed".into()),
                }
            }
        }
        if c.is_ascii_digit() || c == '-' {
            let mut s = String::new();
            while let Some(&ch) = self.chars.peek() {
                if ch.is_ascii_hexdigit() || matches!(ch, '-' | '.' | 'e' | 'E' | '+') {
                    s.push(ch);
                    self.chars.next();
                } else {
                    break;
                }
            }
            return Ok(Token::Number(s));
        }
        if c.is_alphanumeric() || c == '_' {
            let mut s = String::new();
            while let Some(&ch) = self.chars.peek() {
                if ch.is_alphanumeric() || ch == '_' || ch == '-' || ch == '.' {
                    s.push(ch);
                    self.chars.next();
                } else {
                    break;
                }
            }
            return Ok(Token::Name(s));
        }
        self.chars.next();
        Ok(Token::Punct(c))
    }

    fn literal(&mut self) -> Result<Value, String> {
        match self.token()? {
            Token::Text(s) => Ok(Value::String(s)),
            Token::Number(n) => match serde_json::from_str::<Value>(&n) {
                Ok(v @ Value::Number(_)) => Ok(v),
                // A guid starting with a digit.
                _ => Ok(Value::String(n)),
            },
            Token::Name(n) if n == "null" => Ok(Value::Null),
            Token::Name(n) if n == "true" => Ok(Value::Bool(true)),
            Token::Name(n) if n == "false" => Ok(Value::Bool(false)),
            Token::Name(n) => Ok(Value::String(n)),
            t => Err(format!("expected a literal, found {t:?}")),
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Filter::Or(items)
        })
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut items = vec![self.atom()?];
        while self.keyword("and") {
            items.push(self.atom()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Filter::And(items)
        })
    }

    fn atom(&mut self) -> Result<Filter, String> {
        match self.token()? {
            Token::Punct('(') => {
                let f = self.or()?;
                self.expect(')')?;
                Ok(f)
            }
            Token::Name(name) => {
                if !self.keyword("eq") {
                    return Err(format!("only eq comparisons are simulated (after {name})"));
                }
                Ok(Filter::Eq(name, self.literal()?))
            }
            t => Err(format!("unexpected {t:?} in $filter")),
        }
    }

    /// Consumes a keyword if it comes next.
    fn keyword(&mut self, word: &str) -> bool {
        self.skip_space();
        let rest: String = self.chars.clone().take(word.len() + 1).collect();
        let matches = rest.len() > word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && rest[word.len()..].starts_with(|c: char| c.is_whitespace() || c == '(' || c == '\'');
        if matches {
            for _ in 0..word.len() {
                self.chars.next();
            }
        }
        matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_filters() {
        assert_eq!(decode("a%20b+c%27", true), "a b c'");
        assert_eq!(decode("a+b", false), "a+b");
        let (set, key) = resource("accounts(accountnumber='O''Brien, Ltd',code=7)").unwrap();
        assert_eq!(set, "accounts");
        assert_eq!(
            key,
            Some(KeyPredicate::Alternate(vec![
                ("accountnumber".into(), json!("O'Brien, Ltd")),
                ("code".into(), json!(7)),
            ]))
        );
        let (_, key) = resource("accounts(0a1b2c3d-0000-4000-8000-000000000001)").unwrap();
        assert_eq!(
            key,
            Some(KeyPredicate::Id(
                "0a1b2c3d-0000-4000-8000-000000000001".into()
            ))
        );
        let f = Filter::parse("(a eq 'x' and b eq 2) or (a eq 'y''s')").unwrap();
        assert!(f.matches(json!({"a": "x", "b": 2}).as_object().unwrap()));
        assert!(f.matches(json!({"a": "y's"}).as_object().unwrap()));
        assert!(!f.matches(json!({"a": "x", "b": 3}).as_object().unwrap()));
        assert!(Filter::parse("a gt 1").is_err());
    }
}
