//! The SOQL the simulator understands: `SELECT fields FROM Object [WHERE
//! ...] [ORDER BY field [ASC|DESC], ...] [LIMIT n]`, where conditions are
//! comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`) and `IN (...)` joined by
//! `AND`, `OR` and parentheses; literals are strings with backslash
//! escapes, numbers, `true`, `false`, `null` and datetimes
//! (`2024-01-01T00:00:00Z`).

use std::cmp::Ordering;

use serde_json::Value;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    pub filter: Option<Cond>,
    pub order: Vec<(String, bool)>,
    pub limit: Option<usize>,
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(String, String, Lit),
    In(String, Vec<Lit>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
    DateTime(jiff::Timestamp),
}

/// Parses a query; the message says what is wrong.
pub fn parse(q: &str) -> Result<Query, String> {
    let tokens = lex(q)?;
    let mut p = Parser { tokens, at: 0 };
    p.keyword("SELECT")?;
    let mut fields = vec![p.name()?];
    while p.punct(",") {
        fields.push(p.name()?);
    }
    p.keyword("FROM")?;
    let object = p.name()?;
    let filter = if p.is_keyword("WHERE") {
        Some(p.or()?)
    } else {
        None
    };
    let mut order = Vec::new();
    if p.is_keyword("ORDER") {
        p.keyword("BY")?;
        loop {
            let f = p.name()?;
            let desc = p.is_keyword("DESC");
            if !desc {
                p.is_keyword("ASC");
            }
            order.push((f, desc));
            if !p.punct(",") {
                break;
            }
        }
    }
    let limit = if p.is_keyword("LIMIT") {
        match p.next() {
            Some(Tok::Num(n)) => Some(n.parse().map_err(|_| format!("bad LIMIT {n}"))?),
            t => return Err(format!("expected a number after LIMIT, found {t:?}")),
        }
    } else {
        None
    };
    if let Some(t) = p.next() {
        return Err(format!("unexpected token {t:?}"));
    }
    Ok(Query {
        fields,
        object,
        filter,
        order,
        limit,
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Text(String),
    Num(String),
    Punct(String),
}

fn lex(q: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("a string literal is not closed".into()),
                    Some('\'') => break,
                    Some('\\') => {
                        let e = chars.get(i + 1).ok_or("a string ends in a backslash")?;
                        s.push(match e {
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            other => *other,
                        });
                        i += 2;
                        continue;
                    }
                    Some(ch) => s.push(*ch),
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Text(s));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | ':' | '.' | '+'))
            {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.')) {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if ["!=", "<=", ">=", "<>"].contains(&two.as_str()) {
                two
            } else {
                c.to_string()
            };
            if !["!=", "<=", ">=", "<>", "=", "<", ">", "(", ")", ","].contains(&op.as_str()) {
                return Err(format!("unexpected character {c:?}"));
            }
            i += op.chars().count();
            out.push(Tok::Punct(op));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn is_keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn keyword(&mut self, k: &str) -> Result<(), String> {
        if self.is_keyword(k) {
            Ok(())
        } else {
            Err(format!("expected {k}, found {:?}", self.peek()))
        }
    }

    fn punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(x)) if x == p) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            t => Err(format!("expected a field or object name, found {t:?}")),
        }
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and()?];
        while self.is_keyword("OR") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.atom()?];
        while self.is_keyword("AND") {
            items.push(self.atom()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn atom(&mut self) -> Result<Cond, String> {
        if self.punct("(") {
            let c = self.or()?;
            return if self.punct(")") {
                Ok(c)
            } else {
                Err("a parenthesis is not closed".into())
            };
        }
        let field = self.name()?;
        if self.is_keyword("IN") {
            if !self.punct("(") {
                return Err("expected ( after IN".into());
            }
            let mut values = vec![self.literal()?];
            while self.punct(",") {
                values.push(self.literal()?);
            }
            return if self.punct(")") {
                Ok(Cond::In(field, values))
            } else {
                Err("the IN list is not closed".into())
            };
        }
        let op = match self.next() {
            Some(Tok::Punct(p))
                if ["=", "!=", "<>", "<", "<=", ">", ">="].contains(&p.as_str()) =>
            {
                p
            }
            t => return Err(format!("expected a comparison after {field}, found {t:?}")),
        };
        Ok(Cond::Cmp(field, op, self.literal()?))
    }

    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Text(s)) => Ok(Lit::Text(s)),
            Some(Tok::Num(n)) if n.contains('T') => n
                .parse()
                .map(Lit::DateTime)
                .map_err(|e| format!("bad datetime {n}: {e}")),
            Some(Tok::Num(n)) => n
                .parse()
                .map(Lit::Number)
                .map_err(|_| format!("bad number {n}")),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Lit::Null),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
            t => Err(format!("expected a literal, found {t:?}")),
        }
    }
}

/// Compares a field's value with a literal; `None` when they do not
/// compare (a null, different types).
fn compare(v: &Value, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Value::String(s), Lit::Text(t)) => Some(s.as_str().cmp(t)),
        (Value::String(s), Lit::DateTime(t)) => crate::salesforce::parse_time(s).map(|x| x.cmp(t)),
        (Value::Number(n), Lit::Number(x)) => n.as_f64()?.partial_cmp(x),
        (Value::Bool(b), Lit::Bool(x)) => Some(b.cmp(x)),
        _ => None,
    }
}

impl Cond {
    /// Whether a row holds; `get` gives a field's value.
    pub fn holds(&self, get: &dyn Fn(&str) -> Value) -> bool {
        match self {
            Cond::And(cs) => cs.iter().all(|c| c.holds(get)),
            Cond::Or(cs) => cs.iter().any(|c| c.holds(get)),
            Cond::In(f, values) => {
                let v = get(f);
                values
                    .iter()
                    .any(|l| compare(&v, l) == Some(Ordering::Equal))
            }
            Cond::Cmp(f, op, lit) => {
                let v = get(f);
                if *lit == Lit::Null {
                    return match op.as_str() {
                        "=" => v.is_null(),
                        "!=" | "<>" => !v.is_null(),
                        _ => false,
                    };
                }
                let Some(ord) = compare(&v, lit) else {
                    return matches!(op.as_str(), "!=" | "<>");
                };
                match op.as_str() {
                    "=" => ord == Ordering::Equal,
                    "!=" | "<>" => ord != Ordering::Equal,
                    "<" => ord == Ordering::Less,
                    "<=" => ord != Ordering::Greater,
                    ">" => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                }
            }
        }
    }

    /// The fields a condition names.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Cond::Cmp(f, _, _) | Cond::In(f, _) => vec![f.as_str()],
            Cond::And(cs) | Cond::Or(cs) => cs.iter().flat_map(Cond::fields).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_evaluates() {
        let q = parse("SELECT Id,Name FROM Account WHERE (SystemModstamp >= 2024-01-01T00:00:00Z AND Ext__c IN ('a\\'b','c')) OR Name = null ORDER BY SystemModstamp,Id DESC LIMIT 5").unwrap();
        assert_eq!(q.fields, ["Id", "Name"]);
        assert_eq!(
            q.order,
            [("SystemModstamp".into(), false), ("Id".into(), true)]
        );
        assert_eq!(q.limit, Some(5));
        let row =
            json!({"SystemModstamp": "2024-02-01T00:00:00.000+0000", "Ext__c": "a'b", "Name": "x"});
        let get = |f: &str| row.get(f).cloned().unwrap_or(Value::Null);
        assert!(q.filter.as_ref().unwrap().holds(&get));
        let row =
            json!({"SystemModstamp": "2023-02-01T00:00:00.000+0000", "Ext__c": "a'b", "Name": "x"});
        let get = |f: &str| row.get(f).cloned().unwrap_or(Value::Null);
        assert!(!q.filter.as_ref().unwrap().holds(&get));
        assert!(parse("SELECT FROM Account").is_err());
        assert!(parse("SELECT Id FROM Account WHERE Name ~ 'x'").is_err());
    }
}
