//! A throwaway OpenLDAP `slapd` on a free loopback port (see shared/design/TEST-SERVERS.md):
//! a small `slapd.conf` (core, cosine, inetorgperson, nis and a one-attribute `memberOf`
//! schema; back_mdb), a generated directory loaded with `slapadd`, and `slapd -d 0` killed by
//! its pid on drop. The server's `sizelimit` is 50 (paged searches may run to any total), so an
//! unpaged read of a bigger directory is truncated and only paging reads it whole.
//!
//! The tests bind as `cn=reader,dc=example,dc=com` (limited like any client); [`Slapd::modify`]
//! runs `ldapmodify` as the rootdn to change the directory between reads.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::binaries::wait_until;

pub const SUFFIX: &str = "dc=example,dc=com";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PW: &str = "root-secret-for-tests";
pub const READER_DN: &str = "cn=reader,dc=example,dc=com";
/// The reader's password (what the password file holds).
pub const READER_PW: &str = "reader-secret-for-tests";
pub const PEOPLE_BASE: &str = "ou=people,dc=example,dc=com";
pub const GROUPS_BASE: &str = "ou=groups,dc=example,dc=com";
pub const POSIX_BASE: &str = "ou=posix,dc=example,dc=com";
/// The server's size limit for one unpaged search.
pub const SIZE_LIMIT: usize = 50;
/// A person with no `mail`: a reader must skip and report it.
pub const NO_MAIL_DN: &str = "uid=nomail,ou=people,dc=example,dc=com";

/// `memberOf` as Active Directory (or OpenLDAP's memberof overlay) shows it, as a plain
/// attribute on an auxiliary class so `slapadd` can load it.
const MEMBEROF_SCHEMA: &str = "\
attributetype ( 1.3.6.1.4.1.99999.7.1.1 NAME 'memberOf'
  EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )
objectclass ( 1.3.6.1.4.1.99999.7.2.1 NAME 'hallpassMemberOf' SUP top AUXILIARY MAY memberOf )
";

/// A generated directory: `people` people (uid `user00000`…, a manager tree where person
/// `i > 0` reports to `(i - 1) / 10`), `groups` groupOfNames (person `i` is a direct member of
/// group `i % groups`; group 0 contains group 1 contains group 2; groups 3 and 4 contain each
/// other), the same memberships as posixGroups (`memberUid`) and as `memberOf` on people and
/// nested groups, plus one person without mail.
#[derive(Clone, Debug)]
pub struct Directory {
    pub people: usize,
    pub groups: usize,
}

impl Directory {
    /// Needs at least 5 groups (for the nesting and the cycle) and as many people as groups.
    pub fn generated(people: usize, groups: usize) -> Directory {
        assert!(
            groups >= 5 && people >= groups,
            "a directory too small to test"
        );
        Directory { people, groups }
    }

    pub fn uid(i: usize) -> String {
        format!("user{i:05}")
    }

    pub fn person_dn(i: usize) -> String {
        format!("uid={},{PEOPLE_BASE}", Self::uid(i))
    }

    pub fn email(i: usize) -> String {
        format!("{}@example.com", Self::uid(i))
    }

    pub fn name(i: usize) -> String {
        format!("User Number {i}")
    }

    pub fn phone(i: usize) -> String {
        format!("+1 555 {i:05}")
    }

    pub fn manager(i: usize) -> Option<usize> {
        (i > 0).then(|| (i - 1) / 10)
    }

    pub fn group_cn(j: usize) -> String {
        format!("Team {j}")
    }

    pub fn group_dn(j: usize) -> String {
        format!("cn={},{GROUPS_BASE}", Self::group_cn(j))
    }

    pub fn posix_dn(j: usize) -> String {
        format!("cn=posix{j},{POSIX_BASE}")
    }

    /// The groups nested directly in group `j`.
    pub fn subgroups(&self, j: usize) -> Vec<usize> {
        match j {
            0 => vec![1],
            1 => vec![2],
            3 => vec![4],
            4 => vec![3],
            _ => vec![],
        }
    }

    /// People directly in group `j`.
    pub fn direct_members(&self, j: usize) -> BTreeSet<usize> {
        (0..self.people).filter(|i| i % self.groups == j).collect()
    }

    /// People in group `j`, directly or through nested groups.
    pub fn members(&self, j: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::from([j]);
        let mut todo = vec![j];
        let mut out = BTreeSet::new();
        while let Some(g) = todo.pop() {
            out.extend(self.direct_members(g));
            for s in self.subgroups(g) {
                if seen.insert(s) {
                    todo.push(s);
                }
            }
        }
        out
    }

    /// The groups that list group `j` as a member.
    fn parents(&self, j: usize) -> Vec<usize> {
        (0..self.groups)
            .filter(|&p| self.subgroups(p).contains(&j))
            .collect()
    }

    pub fn ldif(&self) -> String {
        let mut s = String::with_capacity(self.people * 400 + self.groups * 200);
        let _ = write!(
            s,
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: reader\nuserPassword: {READER_PW}\n\n\
             dn: {PEOPLE_BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {GROUPS_BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: {POSIX_BASE}\nobjectClass: organizationalUnit\nou: posix\n\n"
        );
        for i in 0..self.people {
            let _ = write!(
                s,
                "dn: {}\nobjectClass: inetOrgPerson\nobjectClass: hallpassMemberOf\nuid: {}\n\
                 cn: {}\nsn: Number {i}\ngivenName: User\nmail: {}\ntelephoneNumber: {}\n\
                 memberOf: {}\n",
                Self::person_dn(i),
                Self::uid(i),
                Self::name(i),
                Self::email(i),
                Self::phone(i),
                Self::group_dn(i % self.groups),
            );
            if let Some(m) = Self::manager(i) {
                // Spaces and capitals a directory may well have: DNs compare normalised.
                let _ = writeln!(s, "manager: UID={}, OU=People,{SUFFIX}", Self::uid(m));
            }
            s.push('\n');
        }
        let _ = write!(
            s,
            "dn: {NO_MAIL_DN}\nobjectClass: inetOrgPerson\nuid: nomail\ncn: No Mail\nsn: Mail\n\n"
        );
        for j in 0..self.groups {
            let _ = write!(
                s,
                "dn: {}\nobjectClass: groupOfNames\nobjectClass: hallpassMemberOf\ncn: {}\n\
                 description: Generated team {j}\n",
                Self::group_dn(j),
                Self::group_cn(j)
            );
            for i in self.direct_members(j) {
                let _ = writeln!(s, "member: {}", Self::person_dn(i));
            }
            for g in self.subgroups(j) {
                let _ = writeln!(s, "member: {}", Self::group_dn(g));
            }
            for p in self.parents(j) {
                let _ = writeln!(s, "memberOf: {}", Self::group_dn(p));
            }
            s.push('\n');
            let _ = write!(
                s,
                "dn: {}\nobjectClass: posixGroup\ncn: posix{j}\ngidNumber: {}\n",
                Self::posix_dn(j),
                10_000 + j
            );
            for i in self.direct_members(j) {
                let _ = writeln!(s, "memberUid: {}", Self::uid(i));
            }
            s.push('\n');
        }
        s
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("{name} is missing: install slapd and ldap-utils (tests/run does)")
        })
}

pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The ldaps:// port, when started with TLS.
    pub tls_port: Option<u16>,
    /// Holds [`READER_PW`] and a newline.
    pub password_file: PathBuf,
    child: Child,
}

impl Slapd {
    pub fn start(directory: &Directory) -> Slapd {
        Self::launch(directory, false)
    }

    /// Also serves StartTLS on [`Slapd::url`] and TLS on [`Slapd::ldaps_url`], with a
    /// certificate for 127.0.0.1 signed by a fresh CA ([`Slapd::ca_file`]), made with openssl.
    pub fn start_tls(directory: &Directory) -> Slapd {
        Self::launch(directory, true)
    }

    fn launch(directory: &Directory, tls: bool) -> Slapd {
        let dir = tempfile::Builder::new()
            .prefix("hallpass-slapd-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("db")).expect("mkdir db");
        std::fs::write(d.join("memberof.schema"), MEMBEROF_SCHEMA).expect("write schema");
        let tls_conf = if tls {
            make_cert(d);
            format!(
                "TLSCACertificateFile {0}/ca.pem\nTLSCertificateFile {0}/server.crt\n\
                 TLSCertificateKeyFile {0}/server.key\n",
                d.display()
            )
        } else {
            String::new()
        };
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include {d}/memberof.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             pidfile {d}/slapd.pid\n\
             {tls_conf}\
             sizelimit size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited\n\
             access to attrs=userPassword by self write by anonymous auth by * none\n\
             access to * by * read\n\
             database mdb\n\
             maxsize 4294967296\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\n\
             directory {d}/db\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("write slapd.conf");
        std::fs::write(d.join("base.ldif"), directory.ldif()).expect("write base.ldif");
        let out = Command::new(tool("slapadd"))
            .arg("-q")
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(d.join("base.ldif"))
            .output()
            .expect("run slapadd");
        assert!(out.status.success(), "slapadd failed: {out:?}");
        let password_file = d.join("reader.pw");
        std::fs::write(&password_file, format!("{READER_PW}\n")).expect("write password file");

        let port = free_port();
        let tls_port = tls.then(free_port);
        let mut urls = format!("ldap://127.0.0.1:{port}/");
        if let Some(p) = tls_port {
            urls.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
        }
        let log = std::fs::File::create(d.join("slapd.log")).expect("create slapd.log");
        let child = Command::new(tool("slapd"))
            .arg("-f")
            .arg(d.join("slapd.conf"))
            .args(["-h", &urls, "-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn slapd");
        let mut slapd = Slapd {
            dir,
            port,
            tls_port,
            password_file,
            child,
        };
        let ports: Vec<u16> = std::iter::once(port).chain(tls_port).collect();
        wait_until(
            Duration::from_secs(20),
            "slapd to accept connections",
            || {
                if let Ok(Some(status)) = slapd.child.try_wait() {
                    panic!(
                        "slapd exited with {status}: {}",
                        std::fs::read_to_string(slapd.dir.path().join("slapd.log"))
                            .unwrap_or_default()
                    );
                }
                ports
                    .iter()
                    .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
            },
        );
        // Accepting is not yet answering: wait for a real search to succeed.
        wait_until(Duration::from_secs(20), "slapd to answer a search", || {
            Command::new(tool("ldapsearch"))
                .args([
                    "-x",
                    "-LLL",
                    "-H",
                    &slapd.url(),
                    "-b",
                    SUFFIX,
                    "-s",
                    "base",
                    "1.1",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        slapd
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT` (started with TLS only).
    pub fn ldaps_url(&self) -> String {
        format!(
            "ldaps://127.0.0.1:{}",
            self.tls_port.expect("slapd was started without TLS")
        )
    }

    /// The CA that signed the server certificate (started with TLS only).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Applies `ldif` (changetype records) with ldapmodify as the rootdn.
    pub fn modify(&self, ldif: &str) {
        let mut child = Command::new(tool("ldapmodify"))
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ldapmodify");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(ldif.as_bytes())
            .expect("write ldif");
        let out = child.wait_with_output().expect("ldapmodify");
        assert!(out.status.success(), "ldapmodify failed: {out:?}\n{ldif}");
    }

    /// A search as the reader without paging: `(entries, exit status)`; the tool exits 4 when
    /// the server's size limit cut the result short.
    pub fn unpaged_count(&self, base: &str, filter: &str) -> (usize, i32) {
        let out = Command::new(tool("ldapsearch"))
            .args([
                "-x",
                "-LLL",
                "-H",
                &self.url(),
                "-D",
                READER_DN,
                "-w",
                READER_PW,
            ])
            .args(["-b", base, filter, "1.1"])
            .output()
            .expect("ldapsearch");
        let n = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("dn:"))
            .count();
        (n, out.status.code().unwrap_or(-1))
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn make_cert(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl (tests/run installs it)");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut req = vec!["req", "-x509"];
    req.extend(ec);
    req.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=hallpass test CA",
    ]);
    openssl(&req);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&csr);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write san.ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}
