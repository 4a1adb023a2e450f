//! Lists read whole through the daemon's cursors (approvals, my access, active access, the
//! dashboard's lists): the first page replaces what is held, and each next page is asked for
//! as the previous one arrives and is appended, up to `MAX_PAGES`. Invariant: a page is kept
//! only when it continues the pass in progress (its cursor is the one expected), so a reload
//! never mixes with the pages of an older pass, and memory stays bounded by `MAX_PAGES`.

use hallpass_proto::{GrantQuery, Page, RequestQuery};

use crate::effect::{Cmd, GrantsFor, Query, RequestsFor};

/// Pages read at most in one pass.
pub const MAX_PAGES: u32 = 20;
/// Rows per page.
pub const PAGE_ROWS: u32 = 1000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain {
    pages: u32,
    /// The cursor of the page expected next; `None` when no pass is under way.
    expect: Option<String>,
    /// The pass stopped at `MAX_PAGES` with rows left on the daemon.
    pub capped: bool,
}

impl Chain {
    /// Takes a page that answered the query continuing after `after` into `rows`. Returns
    /// whether the page was kept, and the cursor of the next page to ask for, if any.
    pub fn accept<T>(
        &mut self,
        rows: &mut Vec<T>,
        after: Option<&str>,
        page: Page<T>,
    ) -> (bool, Option<String>) {
        match after {
            None => {
                *rows = page.items;
                self.pages = 1;
            }
            Some(a) if self.expect.as_deref() == Some(a) => {
                if page.items.is_empty() {
                    self.expect = None;
                    return (true, None);
                }
                rows.extend(page.items);
                self.pages += 1;
            }
            Some(_) => return (false, None),
        }
        let more = page.next.is_some();
        self.capped = more && self.pages >= MAX_PAGES;
        self.expect = page.next.filter(|_| !self.capped);
        (true, self.expect.clone())
    }

    /// The most rows one pass holds.
    pub fn max_rows() -> u32 {
        MAX_PAGES * PAGE_ROWS
    }
}

/// The load of the next page of requests, when there is one to read.
pub fn next_requests(purpose: RequestsFor, query: RequestQuery, next: Option<String>) -> Vec<Cmd> {
    next.map(|after| {
        Cmd::Load(Query::Requests {
            purpose,
            query: RequestQuery {
                after: Some(after),
                ..query
            },
        })
    })
    .into_iter()
    .collect()
}

/// The load of the next page of grants, when there is one to read.
pub fn next_grants(purpose: GrantsFor, query: GrantQuery, next: Option<String>) -> Vec<Cmd> {
    next.map(|after| {
        Cmd::Load(Query::Grants {
            purpose,
            query: GrantQuery {
                after: Some(after),
                ..query
            },
        })
    })
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(items: &[u32], next: Option<&str>) -> Page<u32> {
        Page {
            items: items.to_vec(),
            next: next.map(String::from),
        }
    }

    #[test]
    fn pages_follow_their_cursor_and_stale_ones_are_dropped() {
        let (mut c, mut rows) = (Chain::default(), vec![]);
        assert_eq!(
            c.accept(&mut rows, None, page(&[1, 2], Some("b"))),
            (true, Some("b".into()))
        );
        // A page of an older pass (another cursor) changes nothing.
        assert_eq!(
            c.accept(&mut rows, Some("x"), page(&[9], None)),
            (false, None)
        );
        assert_eq!(
            c.accept(&mut rows, Some("b"), page(&[3], None)),
            (true, None)
        );
        assert_eq!(rows, [1, 2, 3]);
        // A reload starts over.
        assert_eq!(c.accept(&mut rows, None, page(&[7], None)), (true, None));
        assert_eq!(rows, [7]);
        assert!(!c.capped);
    }

    #[test]
    fn a_pass_stops_at_max_pages() {
        let (mut c, mut rows) = (Chain::default(), vec![]);
        let mut next = c.accept(&mut rows, None, page(&[0], Some("1"))).1;
        for i in 1..MAX_PAGES {
            let cursor = next.expect("more to read");
            next = c
                .accept(
                    &mut rows,
                    Some(&cursor),
                    page(&[i], Some(&(i + 1).to_string())),
                )
                .1;
        }
        assert_eq!(next, None);
        assert!(c.capped);
        assert_eq!(rows.len(), MAX_PAGES as usize);
    }
}
