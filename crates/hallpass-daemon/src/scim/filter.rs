//! SCIM filters (RFC 7644 §3.4.2.2): a parser into [`Filter`] and its evaluation over a JSON
//! resource, plus the PATCH path grammar (§3.5.2) that shares the tokens. Invariants: operator
//! and attribute names are case-insensitive; `not` binds tighter than `and`, which binds
//! tighter than `or`; every syntax error is `invalidFilter` (or `invalidPath`) naming the
//! 1-based character position; evaluation never fails (type mismatches simply do not match) —
//! what a filter may name is checked up front by [`Filter::check`] against the schema.

use std::cmp::Ordering;
use std::fmt;

use hallpass_core::Timestamp;
use hallpass_core::scim::ScimKind;
use serde_json::Value;

use super::error::ScimError;
use super::schema::{self, Attr, AttrType};

/// The longest filter accepted, in characters.
pub const MAX_FILTER_LEN: usize = 4096;
/// The deepest nesting of parentheses, `not` and value filters.
const MAX_DEPTH: usize = 32;

/// `[urn:]attr[.sub]`. `attr` is empty when the path is a whole extension schema (PATCH only).
#[derive(Clone, Debug, PartialEq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
    /// 1-based position in the text it was parsed from.
    pub pos: usize,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            f.write_str(u)?;
            if !self.attr.is_empty() {
                f.write_str(":")?;
            }
        }
        f.write_str(&self.attr)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(s: &str) -> Option<CompareOp> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: the inner filter's paths are relative to each element.
    ValuePath(AttrPath, Box<Filter>),
}

impl fmt::Display for Filter {
    /// A canonical form with every `and`/`or` parenthesised (so precedence is visible).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.name()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
        }
    }
}

// ---- tokens ----

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    LBrack,
    RBrack,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn describe(t: Option<&Token>) -> String {
    match t.map(|t| &t.tok) {
        None => "the end".into(),
        Some(Tok::Word(w)) => format!("`{w}`"),
        Some(Tok::Str(s)) => format!("the string {s:?}"),
        Some(Tok::LParen) => "`(`".into(),
        Some(Tok::RParen) => "`)`".into(),
        Some(Tok::LBrack) => "`[`".into(),
        Some(Tok::RBrack) => "`]`".into(),
    }
}

fn tokenize(s: &str, err: fn(String) -> ScimError) -> Result<Vec<Token>, ScimError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | '[' | ']' => {
                out.push(Token {
                    tok: match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBrack,
                        _ => Tok::RBrack,
                    },
                    pos,
                });
                i += 1;
            }
            '"' => {
                let start = i;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(format!(
                                "the string that starts at position {pos} is not closed"
                            )));
                        }
                        Some('\\') => i += 2,
                        Some('"') => break,
                        Some(_) => i += 1,
                    }
                }
                let raw: String = chars[start..=i].iter().collect();
                let text: String = serde_json::from_str(&raw).map_err(|_| {
                    err(format!(
                        "the string at position {pos} has an invalid escape"
                    ))
                })?;
                out.push(Token {
                    tok: Tok::Str(text),
                    pos,
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | '[' | ']' | '"')
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(chars[start..i].iter().collect()),
                    pos,
                });
            }
        }
    }
    Ok(out)
}

fn valid_name(s: &str) -> bool {
    let mut cs = s.chars();
    match cs.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    cs.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses `[urn:]attr[.sub]` at `pos`.
pub(crate) fn attr_path(
    w: &str,
    pos: usize,
    err: fn(String) -> ScimError,
) -> Result<AttrPath, ScimError> {
    let bad = || {
        err(format!(
            "`{w}` at position {pos} is not an attribute path like `userName`, `name.familyName` or `urn:…:User:manager.value`"
        ))
    };
    let (urn, rest) = if w.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        let known = [
            schema::USER_SCHEMA,
            schema::GROUP_SCHEMA,
            schema::ENTERPRISE_USER,
        ];
        let lower = w.to_ascii_lowercase();
        match known.iter().find(|u| {
            let u = u.to_ascii_lowercase();
            lower == u || lower.starts_with(&format!("{u}:"))
        }) {
            Some(u) if w.len() == u.len() => {
                return Ok(AttrPath {
                    urn: Some((*u).to_string()),
                    attr: String::new(),
                    sub: None,
                    pos,
                });
            }
            Some(u) => (Some((*u).to_string()), &w[u.len() + 1..]),
            None => match w.rfind(':') {
                Some(i) => (Some(w[..i].to_string()), &w[i + 1..]),
                None => return Err(bad()),
            },
        }
    } else {
        (None, w)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    if !valid_name(attr) || sub.is_some_and(|s| !valid_name(s)) {
        return Err(bad());
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_string(),
        sub: sub.map(str::to_string),
        pos,
    })
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
    depth: usize,
    err: fn(String) -> ScimError,
    /// The position just past the text.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at)
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(x), .. }) if x.eq_ignore_ascii_case(w))
    }

    fn pos(&self) -> usize {
        self.peek().map(|t| t.pos).unwrap_or(self.end)
    }

    fn fail(&self, expected: &str) -> ScimError {
        (self.err)(format!(
            "expected {expected} at position {}, found {}",
            self.pos(),
            describe(self.peek())
        ))
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<(), ScimError> {
        if self.peek().map(|x| &x.tok) == Some(&t) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.fail(what))
        }
    }

    fn deeper(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((self.err)(format!(
                "the filter nests deeper than {MAX_DEPTH} levels at position {}",
                self.pos()
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.not()?;
        while self.peek_word("and") {
            self.at += 1;
            let right = self.not()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, ScimError> {
        if self.peek_word("not")
            && matches!(
                self.toks.get(self.at + 1),
                Some(Token {
                    tok: Tok::LParen,
                    ..
                })
            )
        {
            self.at += 2;
            self.deeper()?;
            let inner = self.or()?;
            self.expect(Tok::RParen, "`)`")?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Filter, ScimError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.fail("an attribute name or `(`"));
        };
        match t.tok {
            Tok::LParen => {
                self.at += 1;
                self.deeper()?;
                let inner = self.or()?;
                self.expect(Tok::RParen, "`)`")?;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Word(w) => {
                self.at += 1;
                let path = attr_path(&w, t.pos, self.err)?;
                if path.attr.is_empty() {
                    return Err((self.err)(format!(
                        "`{w}` at position {} is a schema, not an attribute",
                        t.pos
                    )));
                }
                if self.peek().map(|x| &x.tok) == Some(&Tok::LBrack) {
                    if path.sub.is_some() {
                        return Err((self.err)(format!(
                            "a value filter follows an attribute, not a sub-attribute (position {})",
                            self.pos()
                        )));
                    }
                    self.at += 1;
                    self.deeper()?;
                    let inner = self.or()?;
                    self.expect(Tok::RBrack, "`]`")?;
                    self.depth -= 1;
                    return Ok(Filter::ValuePath(path, Box::new(inner)));
                }
                let op_pos = self.pos();
                let op = match self.peek().map(|x| &x.tok) {
                    Some(Tok::Word(o)) if o.eq_ignore_ascii_case("pr") => {
                        self.at += 1;
                        return Ok(Filter::Present(path));
                    }
                    Some(Tok::Word(o)) => CompareOp::parse(o),
                    _ => None,
                };
                let Some(op) = op else {
                    return Err(self.fail("an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr)"));
                };
                self.at += 1;
                let value = self.value(op_pos)?;
                Ok(Filter::Compare(path, op, value))
            }
            _ => Err(self.fail("an attribute name or `(`")),
        }
    }

    fn value(&mut self, op_pos: usize) -> Result<Value, ScimError> {
        let v = match self.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) => Value::String(s.clone()),
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => match serde_json::from_str::<serde_json::Number>(w) {
                    Ok(n) => Value::Number(n),
                    Err(_) => {
                        return Err(
                            self.fail("a value (a quoted string, a number, true, false or null)")
                        );
                    }
                },
            },
            _ => {
                let _ = op_pos;
                return Err(self.fail("a value (a quoted string, a number, true, false or null)"));
            }
        };
        self.at += 1;
        Ok(v)
    }
}

/// Parses a filter.
pub fn parse(s: &str) -> Result<Filter, ScimError> {
    if s.chars().count() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "the filter is longer than {MAX_FILTER_LEN} characters"
        )));
    }
    let toks = tokenize(s, ScimError::invalid_filter)?;
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
        err: ScimError::invalid_filter,
        end: s.chars().count() + 1,
    };
    let f = p.or()?;
    if p.peek().is_some() {
        return Err(p.fail("`and`, `or` or the end"));
    }
    Ok(f)
}

/// A PATCH `path`: `attrPath`, or `attr[valFilter]` optionally followed by `.sub`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`emails[type eq "work"].value`).
    pub sub_after: Option<String>,
}

/// Parses a PATCH path; errors are `invalidPath`.
pub fn parse_path(s: &str) -> Result<PatchPath, ScimError> {
    if s.chars().count() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path("the path is too long"));
    }
    let toks = tokenize(s, ScimError::invalid_path)?;
    let mut p = Parser {
        toks,
        at: 0,
        depth: 0,
        err: ScimError::invalid_path,
        end: s.chars().count() + 1,
    };
    let Some(Token {
        tok: Tok::Word(w),
        pos,
    }) = p.peek().cloned()
    else {
        return Err(p.fail("an attribute path"));
    };
    p.at += 1;
    let attr = attr_path(&w, pos, ScimError::invalid_path)?;
    let mut out = PatchPath {
        attr,
        filter: None,
        sub_after: None,
    };
    if p.peek().map(|t| &t.tok) == Some(&Tok::LBrack) {
        if out.attr.sub.is_some() || out.attr.attr.is_empty() {
            return Err(p.fail("the end (a value filter follows an attribute)"));
        }
        p.at += 1;
        p.depth = 1;
        p.err = ScimError::invalid_path;
        let inner = p.or()?;
        p.expect(Tok::RBrack, "`]`")?;
        out.filter = Some(inner);
        if let Some(Token {
            tok: Tok::Word(w),
            pos,
        }) = p.peek().cloned()
        {
            let sub = w
                .strip_prefix('.')
                .filter(|s| valid_name(s))
                .ok_or_else(|| {
                    ScimError::invalid_path(format!(
                        "expected `.subAttribute` after `]` at position {pos}, found `{w}`"
                    ))
                })?;
            out.sub_after = Some(sub.to_string());
            p.at += 1;
        }
    }
    if p.peek().is_some() {
        return Err(p.fail("the end of the path"));
    }
    Ok(out)
}

// ---- checking against the schema ----

/// Where a path is resolved: the resource itself, or one element of a multi-valued attribute.
#[derive(Clone, Copy)]
enum Scope {
    Resource(ScimKind),
    Element(&'static Attr),
}

/// The definition a path names in `scope`, and of its sub-attribute if any.
fn resolve(scope: Scope, p: &AttrPath) -> Option<(&'static Attr, Option<&'static Attr>)> {
    let top = match scope {
        Scope::Resource(kind) => schema::find(kind, p.urn.as_deref(), &p.attr)?,
        Scope::Element(parent) => {
            if p.urn.is_some() {
                return None;
            }
            schema::find_sub(parent, &p.attr)?
        }
    };
    match &p.sub {
        None => Some((top, None)),
        Some(s) => Some((top, Some(schema::find_sub(top, s)?))),
    }
}

impl Filter {
    /// Refuses (`invalidFilter`) attributes `kind` does not have, ordering comparisons on
    /// booleans and value filters on attributes that are not multi-valued complex.
    pub fn check(&self, kind: ScimKind) -> Result<(), ScimError> {
        self.check_in(Scope::Resource(kind))
    }

    /// [`Filter::check`] for a PATCH value filter on the elements of `parent` (`invalidPath`).
    pub fn check_in_element(&self, parent: &'static Attr) -> Result<(), ScimError> {
        self.check_in(Scope::Element(parent))
            .map_err(|e| ScimError::invalid_path(e.detail))
    }

    fn check_in(&self, scope: Scope) -> Result<(), ScimError> {
        let unknown = |p: &AttrPath| {
            ScimError::invalid_filter(format!("unknown attribute `{p}` at position {}", p.pos))
        };
        match self {
            Filter::Compare(p, op, v) => {
                let (top, sub) = resolve(scope, p).ok_or_else(|| unknown(p))?;
                let def = sub.unwrap_or(top);
                if def.ty == AttrType::Boolean && op.is_ordering() {
                    return Err(ScimError::invalid_filter(format!(
                        "`{p}` is a boolean: `{}` does not apply (position {})",
                        op.name(),
                        p.pos
                    )));
                }
                if def.ty == AttrType::DateTime
                    && !v.is_null()
                    && v.as_str().and_then(parse_date).is_none()
                {
                    return Err(ScimError::invalid_filter(format!(
                        "`{p}` is a date-time: compare it with an RFC 3339 string like \"2027-01-15T09:00:00Z\", not {v} (position {})",
                        p.pos
                    )));
                }
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) && !v.is_string() {
                    return Err(ScimError::invalid_filter(format!(
                        "`{}` compares with a string (position {})",
                        op.name(),
                        p.pos
                    )));
                }
                Ok(())
            }
            Filter::Present(p) => resolve(scope, p).map(|_| ()).ok_or_else(|| unknown(p)),
            Filter::And(a, b) | Filter::Or(a, b) => {
                a.check_in(scope)?;
                b.check_in(scope)
            }
            Filter::Not(a) => a.check_in(scope),
            Filter::ValuePath(p, inner) => {
                let (top, _) = resolve(scope, p).ok_or_else(|| unknown(p))?;
                if top.ty != AttrType::Complex {
                    return Err(ScimError::invalid_filter(format!(
                        "`{p}` has no sub-attributes to filter on (position {})",
                        p.pos
                    )));
                }
                inner.check_in(Scope::Element(top))
            }
        }
    }

    /// Whether the rendered resource (with `id` and `meta`) of `kind` matches.
    pub fn matches(&self, kind: ScimKind, resource: &Value) -> bool {
        self.eval(Scope::Resource(kind), resource)
    }

    /// Whether one element of a multi-valued attribute (`parent`) matches, for PATCH paths.
    pub fn matches_element(&self, parent: &'static Attr, element: &Value) -> bool {
        self.eval(Scope::Element(parent), element)
    }

    fn eval(&self, scope: Scope, v: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.eval(scope, v) && b.eval(scope, v),
            Filter::Or(a, b) => a.eval(scope, v) || b.eval(scope, v),
            Filter::Not(a) => !a.eval(scope, v),
            Filter::Present(p) => values(scope, p, v).0.iter().any(|x| present(x)),
            Filter::Compare(p, op, lit) => {
                let (vals, def) = values(scope, p, v);
                let exact = def.is_some_and(|d| d.case_exact);
                let date = def.is_some_and(|d| d.ty == AttrType::DateTime);
                // `eq null` is "absent"; `ne` is always the negation of `eq`.
                let eq = || {
                    if lit.is_null() {
                        !vals.iter().any(|x| present(x))
                    } else {
                        vals.iter()
                            .any(|x| compare(x, CompareOp::Eq, lit, exact, date))
                    }
                };
                match op {
                    CompareOp::Eq => eq(),
                    CompareOp::Ne => !eq(),
                    _ => vals.iter().any(|x| compare(x, *op, lit, exact, date)),
                }
            }
            Filter::ValuePath(p, inner) => {
                let Some((top, _)) = resolve(scope, p) else {
                    return false;
                };
                let container = container(scope, p, v);
                match container.and_then(|c| get_ci(c, &p.attr)) {
                    Some(Value::Array(items)) => {
                        items.iter().any(|e| inner.eval(Scope::Element(top), e))
                    }
                    Some(one @ Value::Object(_)) => inner.eval(Scope::Element(top), one),
                    _ => false,
                }
            }
        }
    }
}

/// A key of a JSON object, matched case-insensitively.
pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The object a path's attribute lives in: the resource, or its extension object.
fn container<'a>(scope: Scope, p: &AttrPath, v: &'a Value) -> Option<&'a Value> {
    match (scope, &p.urn) {
        (Scope::Resource(kind), Some(u)) if !u.eq_ignore_ascii_case(schema::core_urn(kind)) => {
            get_ci(v, u)
        }
        _ => Some(v),
    }
}

/// The values a path names (arrays flattened; a multi-valued complex attribute without a
/// sub-attribute stands for its elements' `value`), with the definition they follow.
fn values<'a>(scope: Scope, p: &AttrPath, v: &'a Value) -> (Vec<&'a Value>, Option<&'static Attr>) {
    let resolved = resolve(scope, p);
    let Some(attr) = container(scope, p, v).and_then(|c| get_ci(c, &p.attr)) else {
        return (vec![], resolved.map(|(t, s)| s.unwrap_or(t)));
    };
    let items: Vec<&Value> = match attr {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let (out, def) = match (&p.sub, resolved) {
        (Some(s), r) => (
            items.into_iter().filter_map(|e| get_ci(e, s)).collect(),
            r.and_then(|(_, sub)| sub),
        ),
        (None, Some((top, _))) if top.ty == AttrType::Complex && top.multi => (
            items
                .into_iter()
                .filter_map(|e| get_ci(e, "value"))
                .collect(),
            schema::find_sub(top, "value"),
        ),
        (None, r) => (items, r.map(|(t, _)| t)),
    };
    let flat = out
        .into_iter()
        .flat_map(|x| match x {
            Value::Array(a) => a.iter().collect::<Vec<_>>(),
            one => vec![one],
        })
        .collect();
    (flat, def)
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn order(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// An RFC 3339 date-time (`Z` or a `±hh:mm` offset, optional fraction) as UTC milliseconds.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (local, offset_min) = if let Some(l) = s.strip_suffix(['Z', 'z']) {
        (l, 0)
    } else if s.len() > 6 && s.is_char_boundary(s.len() - 6) {
        let (l, tz) = s.split_at(s.len() - 6);
        let b = tz.as_bytes();
        if (b[0] == b'+' || b[0] == b'-') && b[3] == b':' {
            let h: i64 = tz[1..3].parse().ok()?;
            let m: i64 = tz[4..6].parse().ok()?;
            let sign = if b[0] == b'-' { -1 } else { 1 };
            (l, sign * (h * 60 + m))
        } else {
            (s, 0)
        }
    } else {
        (s, 0)
    };
    let t = Timestamp::parse_rfc3339(local).ok()?;
    Some(t.as_millis() - offset_min * 60_000)
}

fn compare(actual: &Value, op: CompareOp, lit: &Value, exact: bool, date: bool) -> bool {
    match (actual, lit) {
        (Value::String(a), Value::String(b)) => {
            if date && let (Some(x), Some(y)) = (parse_date(a), parse_date(b)) {
                return order(op, x.cmp(&y));
            }
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => order(op, a.cmp(&b)),
            }
        }
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).is_some_and(|o| order(op, o)),
            _ => false,
        },
        (Value::Bool(a), Value::Bool(b)) => matches!(op, CompareOp::Eq) && a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_parse_with_precedence_and_case_insensitive_keywords() {
        let cases = [
            (r#"userName eq "bjensen""#, r#"userName eq "bjensen""#),
            (r#"userName EQ "bjensen""#, r#"userName eq "bjensen""#),
            (
                r#"name.familyName co "O'Malley""#,
                r#"name.familyName co "O'Malley""#,
            ),
            (r#"userName sw "J""#, r#"userName sw "J""#),
            (r#"title pr"#, "title pr"),
            (
                r#"title PR and userType eq "Employee""#,
                r#"(title pr and userType eq "Employee")"#,
            ),
            (
                r#"a eq 1 or b eq 2 and c eq 3"#,
                "(a eq 1 or (b eq 2 and c eq 3))",
            ),
            (
                r#"(a eq 1 or b eq 2) and c eq 3"#,
                "((a eq 1 or b eq 2) and c eq 3)",
            ),
            (
                r#"a eq 1 and b eq 2 or c eq 3"#,
                "((a eq 1 and b eq 2) or c eq 3)",
            ),
            (r#"not (a eq 1) and b eq 2"#, "(not (a eq 1) and b eq 2)"),
            (r#"NOT(a eq 1 or b eq 2)"#, "not ((a eq 1 or b eq 2))"),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            ),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                r#"emails[(type eq "work" and value co "@example.com")]"#,
            ),
            (
                r#"emails[type eq "work"] or userName eq "x""#,
                r#"(emails[type eq "work"] or userName eq "x")"#,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "7""#,
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "7""#,
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "a""#,
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "a""#,
            ),
            ("active eq true", "active eq true"),
            ("active eq False", "active eq false"),
            ("x eq null", "x eq null"),
            ("x gt 1.5", "x gt 1.5"),
            ("x le -3", "x le -3"),
            (
                r#"displayName eq "a \"quoted\" \\ name""#,
                r#"displayName eq "a \"quoted\" \\ name""#,
            ),
            (r#"  userName   eq   "x"  "#, r#"userName eq "x""#),
            (r#"x eq "ü""#, r#"x eq "ü""#),
        ];
        for (input, want) in cases {
            let got = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), want, "{input}");
        }
    }

    #[test]
    fn a_number_keeps_its_value_through_the_canonical_form() {
        // Found by the fuzzer: without serde_json's `float_roundtrip`, the printed form of a
        // large number parsed back to a neighbouring float.
        let f = parse(&format!("em ne {}", "5".repeat(33))).unwrap();
        let printed = f.to_string();
        assert_eq!(
            parse(&printed).unwrap(),
            Filter::Compare(
                AttrPath {
                    urn: None,
                    attr: "em".into(),
                    sub: None,
                    pos: 1
                },
                CompareOp::Ne,
                serde_json::from_str("5.5555555555555556e+32").unwrap(),
            )
        );
        assert_eq!(parse(&printed).unwrap().to_string(), printed);
    }

    #[test]
    fn syntax_errors_are_invalid_filter_with_a_position() {
        let cases = [
            ("", "position 1"),
            ("userName", "position 9"),
            (r#"userName eq"#, "position 12"),
            (r#"userName xx "a""#, "position 10"),
            (r#"userName eq "a" and"#, "position 20"),
            (r#"userName eq "a" userName"#, "position 17"),
            (r#"(userName eq "a""#, "position 17"),
            (r#"userName eq "a"#, "position 13"),
            (r#"userName eq bare"#, "position 13"),
            (r#"emails[type eq "work""#, "position 22"),
            (r#"1abc eq "x""#, "position 1"),
            (r#"a.b.c eq "x""#, "position 1"),
            (r#"not a eq "x""#, "position 5"),
            (r#"userName eq "\q""#, "position 13"),
            (r#")"#, "position 1"),
            // A multi-byte character in a word's first four bytes (found by the fuzzer: the
            // `urn:` test sliced inside it and panicked).
            ("ai,\u{7db}aa pr", "position 1"),
            ("urn\u{e9}x pr", "position 1"),
        ];
        for (input, pos) in cases {
            let e = parse(input).expect_err(input);
            assert_eq!(e.scim_type, Some("invalidFilter"), "{input}");
            assert_eq!(e.status, 400);
            assert!(e.detail.contains(pos), "{input}: {}", e.detail);
        }
        let deep = format!("{}a eq 1{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().detail.contains("deeper"));
        assert!(parse(&"a".repeat(5000)).is_err());
    }

    #[test]
    fn checks_name_unknown_attributes_and_misused_operators() {
        let ok = [
            r#"userName eq "a""#,
            r#"USERNAME eq "a""#,
            r#"emails[type eq "work"]"#,
            r#"emails.value ew "@x.io""#,
            r#"meta.created gt "2020-01-01T00:00:00Z""#,
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1""#,
            "id pr",
            "externalId pr",
        ];
        for f in ok {
            parse(f)
                .unwrap()
                .check(ScimKind::User)
                .unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        parse(r#"members[value eq "1"]"#)
            .unwrap()
            .check(ScimKind::Group)
            .unwrap();
        let bad = [
            (
                ScimKind::User,
                r#"nope eq "a""#,
                "unknown attribute `nope` at position 1",
            ),
            (
                ScimKind::User,
                r#"userName eq "a" and name.nope pr"#,
                "`name.nope` at position 21",
            ),
            (
                ScimKind::User,
                r#"emails[kind eq "a"]"#,
                "`kind` at position 8",
            ),
            (ScimKind::User, "active gt true", "boolean"),
            (
                ScimKind::User,
                r#"userName[value eq "a"]"#,
                "no sub-attributes",
            ),
            (ScimKind::User, "userName co 1", "string"),
            (ScimKind::Group, r#"userName eq "a""#, "unknown attribute"),
            (ScimKind::User, r#"urn:x:y:foo eq "a""#, "unknown attribute"),
        ];
        for (kind, f, want) in bad {
            let e = parse(f).unwrap().check(kind).expect_err(f);
            assert_eq!(e.scim_type, Some("invalidFilter"), "{f}");
            assert!(e.detail.contains(want), "{f}: {}", e.detail);
        }
    }

    fn user() -> Value {
        json!({
            "id": "17",
            "userName": "Bjensen@Example.com",
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "active": true,
            "title": "",
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "3"}},
            "meta": {"created": "2027-01-15T08:00:00Z", "lastModified": "2027-01-15T09:30:00.000Z"}
        })
    }

    #[test]
    fn evaluation_follows_the_rfc() {
        let u = user();
        let cases = [
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"userName ne "bjensen@example.com""#, false),
            (r#"userName ne "someone""#, true),
            (r#"userName co "JENSEN""#, true),
            (r#"userName sw "bj""#, true),
            (r#"userName ew ".COM""#, true),
            (r#"userName ew ".org""#, false),
            (r#"id eq "17""#, true),
            (r#"name.familyName eq "jensen""#, true),
            (r#"name.givenName pr"#, true),
            (r#"name.middleName pr"#, false),
            ("title pr", false),
            ("nickName pr", false),
            ("active eq true", true),
            ("active eq false", false),
            ("nickName eq null", true),
            ("userName eq null", false),
            ("nickName ne null", false),
            ("userName ne null", true),
            (r#"emails co "jensen.org""#, true),
            (r#"emails.value eq "babs@jensen.org""#, true),
            (r#"emails[type eq "work" and value co "example"]"#, true),
            (r#"emails[type eq "home" and value co "example"]"#, false),
            (r#"emails[type eq "home"] and not (active eq false)"#, true),
            (r#"emails.type eq "other""#, false),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "3""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:MANAGER.value eq "4""#,
                false,
            ),
            (r#"meta.created gt "2027-01-15T07:59:59Z""#, true),
            (r#"meta.created lt "2027-01-15T07:59:59Z""#, false),
            (r#"meta.lastModified ge "2027-01-15T09:30:00Z""#, true),
            (r#"meta.lastModified le "2027-01-15T09:29:59.999Z""#, false),
            (r#"meta.created gt "2027-01-15T07:00:00-02:00""#, false),
            (r#"meta.created lt "2027-01-15T07:00:00-02:00""#, true),
            (r#"meta.created eq "2027-01-15T09:00:00+01:00""#, true),
            (r#"userName gt "a""#, true),
            (r#"userName lt "a""#, false),
            (r#"userName eq "x" or name.familyName eq "Jensen""#, true),
            (r#"userName eq 7"#, false),
        ];
        for (f, want) in cases {
            let parsed = parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(parsed.matches(ScimKind::User, &u), want, "{f}");
        }
    }

    #[test]
    fn ids_compare_case_exactly() {
        let g = json!({"id": "AbC", "displayName": "Ops"});
        assert!(
            !parse(r#"id eq "abc""#)
                .unwrap()
                .matches(ScimKind::Group, &g)
        );
        assert!(
            parse(r#"id eq "AbC""#)
                .unwrap()
                .matches(ScimKind::Group, &g)
        );
        assert!(
            parse(r#"displayName eq "OPS""#)
                .unwrap()
                .matches(ScimKind::Group, &g)
        );
    }

    #[test]
    fn patch_paths_parse() {
        let cases = [
            ("active", "active", false, None),
            ("name.givenName", "name.givenName", false, None),
            (r#"members[value eq "17"]"#, "members", true, None),
            (
                r#"emails[type eq "work"].value"#,
                "emails",
                true,
                Some("value"),
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                false,
                None,
            ),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
                false,
                None,
            ),
        ];
        for (input, attr, filtered, sub) in cases {
            let p = parse_path(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(p.attr.to_string(), attr, "{input}");
            assert_eq!(p.filter.is_some(), filtered, "{input}");
            assert_eq!(p.sub_after.as_deref(), sub, "{input}");
        }
        for bad in [
            "",
            "a b",
            "emails[",
            r#"emails[type eq "x"]value"#,
            "name.x[type eq 1]",
            "1x",
        ] {
            let e = parse_path(bad).expect_err(bad);
            assert_eq!(e.scim_type, Some("invalidPath"), "{bad}");
        }
    }
}
