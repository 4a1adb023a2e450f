//! People and groups from a file (`hallpass identities import`, a `kind = "file"` source):
//! CSV with one row per person, or JSON with `people` and `groups`. Invariant: a file either
//! parses whole into a [`Snapshot`] or yields its problems (the first [`MAX_PROBLEMS`]), each
//! naming its row (or JSON path) and column — never a partial result. A manager or member
//! reference names one person: a login exactly, an e-mail as normalised, else the one login it
//! matches in another case.
//!
//! CSV columns (a header row is required; order is free; `login` or `email` identifies):
//! `login, email, name, phone, manager, groups, active` — `manager` is the manager's e-mail or
//! login, `groups` a `;`-separated list of group names, `active` `true`/`false` (default true).
//!
//! JSON: `{"people": [{"login", "email", "name", "phone", "manager", "active"}],
//! "groups": [{"name", "description", "members": [e-mail or login, …]}]}`.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use crate::identity::{GroupRecord, PersonRecord, RecordError, Snapshot, group_name_from};

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 256 * 1024 * 1024;

const COLUMNS: [&str; 7] = [
    "login", "email", "name", "phone", "manager", "groups", "active",
];

/// Which syntax a file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Json,
}

impl FileFormat {
    /// From the file name's extension; JSON when the text starts with `{`, else CSV.
    pub fn guess(path: &str, text: &str) -> FileFormat {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".json") {
            FileFormat::Json
        } else if lower.ends_with(".csv") {
            FileFormat::Csv
        } else if text.trim_start().starts_with('{') {
            FileFormat::Json
        } else {
            FileFormat::Csv
        }
    }
}

/// The most problems one refusal lists.
pub const MAX_PROBLEMS: usize = 100;

/// How many problems a refusal lists, for a message: "3 problem(s)", or "at least 100
/// problems" when the list was cut at [`MAX_PROBLEMS`].
pub fn problem_count(problems: &[RecordError]) -> String {
    if problems.len() >= MAX_PROBLEMS {
        format!("at least {MAX_PROBLEMS} problems")
    } else {
        format!("{} problem(s)", problems.len())
    }
}

/// Parses a whole file; on failure, the problems found (the first [`MAX_PROBLEMS`]).
pub fn parse(format: FileFormat, text: &str) -> Result<Snapshot, Vec<RecordError>> {
    match format {
        FileFormat::Csv => parse_csv(text),
        FileFormat::Json => parse_json(text),
    }
    .map_err(|mut problems| {
        problems.truncate(MAX_PROBLEMS);
        problems
    })
}

fn err(record: impl Into<String>, field: &str, why: impl Into<String>) -> RecordError {
    RecordError {
        record: record.into(),
        field: field.to_string(),
        why: why.into(),
    }
}

/// A person as read, with where it was read (for messages).
struct Row {
    at: String,
    login: Option<String>,
    email: String,
    name: String,
    phone: Option<String>,
    manager: Option<String>,
    active: bool,
    groups: Vec<String>,
}

fn parse_csv(text: &str) -> Result<Snapshot, Vec<RecordError>> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match rd.headers() {
        Ok(h) => h.iter().map(|c| c.to_ascii_lowercase()).collect(),
        Err(e) => return Err(vec![err("row 1", "", format!("unreadable header: {e}"))]),
    };
    let mut errors = Vec::new();
    let mut col: HashMap<&str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        match COLUMNS.iter().find(|c| **c == h.as_str()) {
            Some(c) => {
                if col.insert(c, i).is_some() {
                    errors.push(err("row 1", h, "column appears twice"));
                }
            }
            None => errors.push(err(
                "row 1",
                h,
                format!("unknown column; expected some of {}", COLUMNS.join(", ")),
            )),
        }
    }
    for required in ["email", "name"] {
        if !col.contains_key(required) {
            errors.push(err("row 1", required, "required column is missing"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for (n, rec) in rd.records().enumerate() {
        // Row 1 is the header.
        let at = format!("row {}", n + 2);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(err(at, "", format!("unreadable: {e}")));
                continue;
            }
        };
        let get = |c: &str| -> Option<String> {
            col.get(c)
                .and_then(|i| rec.get(*i))
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        let active = match get("active")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("true" | "yes" | "1") => true,
            Some("false" | "no" | "0") => false,
            Some(other) => {
                errors.push(err(
                    at.clone(),
                    "active",
                    format!("`{other}` is not true or false"),
                ));
                true
            }
        };
        rows.push(Row {
            at,
            login: get("login"),
            email: get("email").unwrap_or_default(),
            name: get("name").unwrap_or_default(),
            phone: get("phone"),
            manager: get("manager"),
            active,
            groups: get("groups")
                .map(|g| {
                    g.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    build(rows, vec![], errors)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFile {
    #[serde(default)]
    people: Vec<JsonPerson>,
    #[serde(default)]
    groups: Vec<JsonGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonPerson {
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    manager: Option<String>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonGroup {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    members: Vec<String>,
}

fn parse_json(text: &str) -> Result<Snapshot, Vec<RecordError>> {
    let file: JsonFile = serde_json::from_str(text).map_err(|e| {
        vec![err(
            format!("line {}, column {}", e.line(), e.column()),
            "",
            e.to_string(),
        )]
    })?;
    let rows = file
        .people
        .into_iter()
        .enumerate()
        .map(|(i, p)| Row {
            at: format!("people[{i}]"),
            login: p.login.filter(|s| !s.trim().is_empty()),
            email: p.email,
            name: p.name,
            phone: p.phone,
            manager: p.manager.filter(|s| !s.trim().is_empty()),
            active: p.active,
            groups: vec![],
        })
        .collect();
    build(rows, file.groups, vec![])
}

/// Who a manager or member reference names: a login exactly, an e-mail as normalised, or else a
/// login whatever its case, when only one person's login matches that way.
#[derive(Default)]
struct Refs {
    /// Logins as written and e-mails as normalised → the external id holding it, and the record
    /// it was read at. A key names one person: [`Refs::add`] refuses a second.
    exact: HashMap<String, (String, String)>,
    /// Lowercased login → the logins it folds from, with their external ids.
    folded: HashMap<String, Vec<(String, String)>>,
}

impl Refs {
    /// Adds a person's keys (their e-mail, and their login unless it is that e-mail: a UPN);
    /// returns each key another record holds already, with that record.
    fn add(
        &mut self,
        email: &str,
        login: Option<&str>,
        external_id: &str,
        at: &str,
    ) -> Vec<(String, String)> {
        let mut taken = Vec::new();
        let login = login.filter(|l| *l != email);
        for key in std::iter::once(email).chain(login) {
            match self.exact.get(key) {
                Some((_, first)) => taken.push((key.to_string(), first.clone())),
                None => {
                    self.exact
                        .insert(key.to_string(), (external_id.to_string(), at.to_string()));
                }
            }
        }
        if let Some(l) = login {
            self.folded
                .entry(l.to_lowercase())
                .or_default()
                .push((l.to_string(), external_id.to_string()));
        }
        taken
    }

    /// The external id `reference` names, or why it names no one.
    fn find(&self, reference: &str) -> Result<String, String> {
        let r = reference.trim();
        let exact = self.exact.get(r).or_else(|| {
            crate::user::normalize_email(r)
                .ok()
                .and_then(|e| self.exact.get(&e))
        });
        if let Some((ext, _)) = exact {
            return Ok(ext.clone());
        }
        match self.folded.get(&r.to_lowercase()).map(Vec::as_slice) {
            Some([(_, ext)]) => Ok(ext.clone()),
            Some(several) => Err(format!(
                "`{r}` matches the logins {}, which differ only in case: write one exactly",
                several
                    .iter()
                    .map(|(l, _)| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => Err(format!("`{r}` is no one's e-mail or login in this file")),
        }
    }
}

/// Validates rows, resolves managers and members (by e-mail or login) and assembles the
/// snapshot. A person's external id in a file source is their login, or else their e-mail.
fn build(
    rows: Vec<Row>,
    json_groups: Vec<JsonGroup>,
    mut errors: Vec<RecordError>,
) -> Result<Snapshot, Vec<RecordError>> {
    // Each valid person with the index of the row it came from.
    let mut people: Vec<(PersonRecord, usize)> = Vec::with_capacity(rows.len());
    let mut refs = Refs::default();
    for (i, r) in rows.iter().enumerate() {
        let external_id = r
            .login
            .clone()
            .unwrap_or_else(|| r.email.trim().to_ascii_lowercase());
        let mut rec = PersonRecord {
            external_id,
            login: r.login.clone(),
            email: r.email.clone(),
            name: r.name.clone(),
            phone: r.phone.clone(),
            manager: None,
            active: r.active,
        };
        match rec.validate() {
            Err(crate::DomainError::InvalidInput { field, why }) => {
                errors.push(err(r.at.clone(), &field, why));
                continue;
            }
            Err(other) => {
                errors.push(err(r.at.clone(), "", other.to_string()));
                continue;
            }
            Ok(p) => {
                // The id as validated (trimmed), which the sync looks people up by.
                rec.external_id.clone_from(&p.external_id);
                for (key, first) in refs.add(&p.email, p.login.as_deref(), &p.external_id, &r.at) {
                    let field = if key.contains('@') { "email" } else { "login" };
                    errors.push(err(
                        r.at.clone(),
                        field,
                        format!("`{key}` is already used by {first}"),
                    ));
                }
            }
        }
        people.push((rec, i));
    }
    for (rec, i) in &mut people {
        let r = &rows[*i];
        if let Some(m) = &r.manager {
            match refs.find(m) {
                Ok(ext) => rec.manager = Some(ext),
                Err(why) => errors.push(err(r.at.clone(), "manager", why)),
            }
        }
    }
    // Groups: from the CSV column, or JSON's list.
    let mut groups: BTreeMap<String, GroupRecord> = BTreeMap::new();
    let ext_of: HashMap<usize, &str> = people
        .iter()
        .map(|(p, i)| (*i, p.external_id.as_str()))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        for g in &r.groups {
            let name = match group_name_from(g) {
                Ok(n) => n,
                Err(e) => {
                    errors.push(err(r.at.clone(), "groups", e.to_string()));
                    continue;
                }
            };
            // The row's own person (not whoever its login or e-mail also names).
            let Some(member) = ext_of.get(&i) else {
                continue; // the row itself was invalid, already reported
            };
            groups
                .entry(name.to_string())
                .or_insert_with(|| GroupRecord {
                    external_id: name.to_string(),
                    name: name.clone(),
                    description: String::new(),
                    members: vec![],
                })
                .members
                .push(member.to_string());
        }
    }
    for (i, g) in json_groups.into_iter().enumerate() {
        let at = format!("groups[{i}]");
        let name = match group_name_from(&g.name) {
            Ok(n) => n,
            Err(e) => {
                errors.push(err(at, "name", e.to_string()));
                continue;
            }
        };
        if groups.contains_key(name.as_str()) {
            errors.push(err(at, "name", format!("group {name} is listed twice")));
            continue;
        }
        let mut members = Vec::with_capacity(g.members.len());
        for (j, m) in g.members.iter().enumerate() {
            match refs.find(m) {
                Ok(ext) => members.push(ext),
                Err(why) => errors.push(err(format!("{at}.members[{j}]"), "members", why)),
            }
        }
        groups.insert(
            name.to_string(),
            GroupRecord {
                external_id: name.to_string(),
                name,
                description: g.description,
                members,
            },
        );
    }
    // Each member once (a row may name a group twice, JSON a person by login and by e-mail).
    for g in groups.values_mut() {
        let mut seen = HashSet::with_capacity(g.members.len());
        g.members.retain(|m| seen.insert(m.clone()));
    }
    if errors.is_empty() {
        Ok(Snapshot {
            people: people.into_iter().map(|(p, _)| p).collect(),
            groups: groups.into_values().collect(),
            unreadable: Vec::new(),
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems a refused file is refused for, as the CLI shows them.
    fn problems(format: FileFormat, text: &str) -> Vec<String> {
        parse(format, text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn csv_people_with_managers_and_groups() {
        let text = "login,email,name,manager,groups\n\
                    ada,ada@example.com,Ada Lovelace,,sre;Platform Team\n\
                    bob,bob@example.com,Bob,ada@example.com,sre\n";
        let s = parse(FileFormat::Csv, text).unwrap();
        assert_eq!(s.people.len(), 2);
        assert_eq!(s.people[1].manager.as_deref(), Some("ada"));
        let sre = s.groups.iter().find(|g| g.name.as_str() == "sre").unwrap();
        assert_eq!(sre.members, vec!["ada", "bob"]);
        assert!(s.groups.iter().any(|g| g.name.as_str() == "platform-team"));
    }

    #[test]
    fn csv_errors_name_row_and_column() {
        let text = "login,email,name,manager\n\
                    ada,ada@example.com,Ada,\n\
                    bob,not-an-address,Bob,\n\
                    cy,cy@example.com,Cy,nobody\n";
        let errs = parse(FileFormat::Csv, text).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|e| e.starts_with("row 3: email:")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|e| e.starts_with("row 4: manager:")),
            "{shown:?}"
        );
    }

    /// Found by the `identity_file` fuzz target: a header's problems were not cut at 100.
    #[test]
    fn a_refusal_lists_at_most_max_problems() {
        let header = (0..150)
            .map(|i| format!("col{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let errs = parse(FileFormat::Csv, &format!("{header}\n")).unwrap_err();
        assert_eq!(errs.len(), MAX_PROBLEMS);
        assert_eq!(problem_count(&errs), "at least 100 problems");
        assert_eq!(problem_count(&errs[..3]), "3 problem(s)");
        assert_eq!(
            errs[0].to_string(),
            "row 1: col0: unknown column; expected some of login, email, name, phone, manager, groups, active"
        );
    }

    #[test]
    fn csv_header_problems() {
        let errs = parse(FileFormat::Csv, "login,mail,name\n").unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|e| e.contains("mail: unknown column")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|e| e.contains("email: required column")),
            "{shown:?}"
        );
    }

    /// Found writing the `identity_file` fuzz target and reviewing it: references were matched
    /// case-insensitively, so with logins `Ada` and `ada` a manager written `Ada` became whoever
    /// came last; a group listed a person named twice twice; a person whose login is their
    /// e-mail was refused as "already used" by their own row; a row's groups went to whoever
    /// its e-mail also named as a login; a JSON login with spaces became an untrimmed id.
    #[test]
    fn references_name_exactly_one_person() {
        let text = "login,email,name,manager,groups\n\
                    Ada,ada1@example.com,Ada One,,dba;DBA\n\
                    fay@example.com,fay@example.com,Fay,,\n\
                    ada,ada2@example.com,Ada Two,,\n\
                    cy,cy@example.com,Cy,Ada,\n\
                    di,di@example.com,Di,ADA2@Example.com,\n\
                    eve,eve@example.com,Eve,CY,\n";
        let s = parse(FileFormat::Csv, text).unwrap();
        let manager = |login: &str| {
            let p = s.people.iter().find(|p| p.login.as_deref() == Some(login));
            p.and_then(|p| p.manager.clone())
        };
        assert_eq!(manager("cy").as_deref(), Some("Ada"), "an exact login wins");
        assert_eq!(
            manager("di").as_deref(),
            Some("ada"),
            "an e-mail in any case"
        );
        assert_eq!(
            manager("eve").as_deref(),
            Some("cy"),
            "one login in another case"
        );
        assert_eq!(s.groups[0].members, ["Ada"], "listed once");
        assert_eq!(
            s.people.len(),
            6,
            "a login that is the person's own e-mail is no clash"
        );

        // A row's groups are its own person's, whoever else its e-mail reads as.
        let text = "login,email,name,groups\n\
                    ,Ada@Example.com,Ada,dba\n\
                    Ada@Example.com,other@example.com,Other,\n";
        let s = parse(FileFormat::Csv, text).unwrap();
        assert_eq!(s.groups[0].members, ["ada@example.com"]);
        // Ids as validated: a JSON login with spaces is the trimmed login.
        let text = r#"{"people":[{"login":" ada ","email":"ada@example.com","name":"Ada"},
                                 {"login":"bob","email":"bob@example.com","name":"Bob","manager":"ada"}],
                       "groups":[{"name":"sre","members":[" ada "]}]}"#;
        let s = parse(FileFormat::Json, text).unwrap();
        assert_eq!(s.people[0].external_id, "ada");
        assert_eq!(s.people[1].manager.as_deref(), Some("ada"));
        assert_eq!(s.groups[0].members, ["ada"]);

        let text = "login,email,name,manager\n\
                    Ada,ada1@example.com,Ada One,\n\
                    ada,ada2@example.com,Ada Two,\n\
                    cy,cy@example.com,Cy,ADA\n";
        let shown: Vec<String> = problems(FileFormat::Csv, text);
        assert_eq!(
            shown,
            [
                "row 4: manager: `ADA` matches the logins `Ada`, `ada`, which differ only in case: write one exactly"
            ]
        );
    }

    #[test]
    fn json_people_and_groups() {
        let text = r#"{"people":[{"login":"ada","email":"ada@example.com","name":"Ada"},
                                 {"email":"bob@example.com","name":"Bob","manager":"ada"}],
                       "groups":[{"name":"sre","members":["bob@example.com","ada"]}]}"#;
        let s = parse(FileFormat::Json, text).unwrap();
        assert_eq!(s.people[1].external_id, "bob@example.com");
        assert_eq!(s.people[1].manager.as_deref(), Some("ada"));
        assert_eq!(s.groups[0].members, vec!["bob@example.com", "ada"]);
    }

    #[test]
    fn json_errors_name_the_path() {
        let text =
            r#"{"people":[{"email":"x","name":"X"}],"groups":[{"name":"g","members":["who"]}]}"#;
        let shown: Vec<String> = problems(FileFormat::Json, text);
        assert!(
            shown.iter().any(|e| e.starts_with("people[0]: email:")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|e| e.starts_with("groups[0].members[0]")),
            "{shown:?}"
        );
        let bad = parse(FileFormat::Json, r#"{"people": [{"email": 3}]}"#).unwrap_err();
        assert!(bad[0].record.starts_with("line 1"), "{bad:?}");
        let unknown = parse(FileFormat::Json, r#"{"persons": []}"#).unwrap_err();
        assert!(unknown[0].why.contains("persons"), "{unknown:?}");
    }
}
