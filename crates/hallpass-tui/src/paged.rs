//! A list too large to hold, paged through the daemon's forward cursors. Owns which pages are
//! loaded, the cursor that fetches each page, and the selection. Invariants: at most
//! `2 * KEEP_PAGES + 1` pages hold rows at a time (memory stays bounded however long the list);
//! a reply for an older generation (a reset, a new filter) is ignored; a page is asked for at
//! most once until it arrives or is evicted.

use hallpass_proto::Page;

use crate::scroll::{Nav, Scroll};

/// Pages kept loaded on each side of the selected row's page.
pub const KEEP_PAGES: usize = 4;

/// Asks the runtime for one page; the reply must come back with the same generation and index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub generation: u64,
    pub index: usize,
    pub after: Option<String>,
    pub limit: u32,
}

#[derive(Clone, Debug)]
struct Slot<T> {
    /// The cursor that fetches this page (None for the first).
    after: Option<String>,
    rows: Option<Vec<T>>,
    /// Rows the page held when last loaded (kept after eviction so row numbers stay stable).
    len: usize,
    requested: bool,
}

#[derive(Clone, Debug)]
pub struct PagedList<T> {
    page_size: u32,
    generation: u64,
    slots: Vec<Slot<T>>,
    /// Where each slot starts, in rows.
    starts: Vec<usize>,
    /// The last page has been seen (its reply had no `next`).
    complete: bool,
    /// End was pressed before the end was known: keep fetching and follow.
    following_end: bool,
    pub scroll: Scroll,
}

impl<T> PagedList<T> {
    pub fn new(page_size: u32) -> Self {
        PagedList {
            page_size,
            generation: 0,
            slots: vec![],
            starts: vec![],
            complete: false,
            following_end: false,
            scroll: Scroll::default(),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Forgets everything and asks for the first page under `generation`.
    pub fn reset(&mut self, generation: u64) -> PageRequest {
        self.generation = generation;
        self.slots = vec![Slot {
            after: None,
            rows: None,
            len: 0,
            requested: true,
        }];
        self.starts = vec![0];
        self.complete = false;
        self.following_end = false;
        self.scroll = Scroll::default();
        PageRequest {
            generation,
            index: 0,
            after: None,
            limit: self.page_size,
        }
    }

    /// True before the first page has arrived.
    pub fn is_loading(&self) -> bool {
        self.slots.first().is_none_or(|s| s.rows.is_none())
    }

    /// Rows known so far (all of them once `is_complete`).
    pub fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0) + self.slots.last().map_or(0, |s| s.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Pages currently holding rows.
    pub fn loaded_pages(&self) -> usize {
        self.slots.iter().filter(|s| s.rows.is_some()).count()
    }

    fn slot_of(&self, row: usize) -> Option<usize> {
        if row >= self.len() {
            return None;
        }
        Some(self.starts.partition_point(|&s| s <= row).saturating_sub(1))
    }

    /// Row `i` if its page is loaded.
    pub fn get(&self, i: usize) -> Option<&T> {
        let s = self.slot_of(i)?;
        self.slots[s].rows.as_ref()?.get(i - self.starts[s])
    }

    pub fn selected(&self) -> Option<&T> {
        self.get(self.scroll.selected)
    }

    fn recompute_starts(&mut self) {
        let mut at = 0;
        self.starts = self
            .slots
            .iter()
            .map(|s| {
                let here = at;
                at += s.len;
                here
            })
            .collect();
    }

    /// Stores a page. Returns the pages to ask for next (to fill the view or follow End).
    pub fn accept(
        &mut self,
        generation: u64,
        index: usize,
        page: Page<T>,
        height: usize,
    ) -> Vec<PageRequest> {
        if generation != self.generation || index >= self.slots.len() {
            return vec![];
        }
        let len = page.items.len();
        let is_last = index + 1 == self.slots.len();
        let slot = &mut self.slots[index];
        slot.rows = Some(page.items);
        slot.len = len;
        slot.requested = false;
        match page.next {
            // A cursor that does not move would loop forever: treat it as the end.
            Some(next) if len > 0 && slot.after.as_deref() != Some(next.as_str()) => {
                if is_last {
                    self.slots.push(Slot {
                        after: Some(next),
                        rows: None,
                        len: 0,
                        requested: false,
                    });
                } else {
                    self.slots[index + 1].after = Some(next);
                }
            }
            _ if is_last => self.complete = true,
            _ => {}
        }
        self.recompute_starts();
        if self.following_end {
            self.scroll.apply(Nav::End, self.len(), height);
            if self.complete {
                self.following_end = false;
            }
        } else {
            self.scroll.clamp(self.len(), height);
        }
        self.evict();
        self.wanted(height)
    }

    /// Moves the selection; returns the pages the new view needs.
    pub fn nav(&mut self, nav: Nav, height: usize) -> Vec<PageRequest> {
        self.following_end = matches!(nav, Nav::End) && !self.complete;
        self.scroll.apply(nav, self.len(), height);
        self.evict();
        self.wanted(height)
    }

    /// After the viewport changed size.
    pub fn resize(&mut self, height: usize) -> Vec<PageRequest> {
        self.scroll.clamp(self.len(), height);
        self.wanted(height)
    }

    /// Drops rows of pages far from the selection.
    fn evict(&mut self) {
        let Some(here) = self.slot_of(self.scroll.selected) else {
            return;
        };
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if i.abs_diff(here) > KEEP_PAGES && slot.rows.is_some() {
                slot.rows = None;
                slot.requested = false;
            }
        }
    }

    /// Pages the view (and a little beyond) needs and nobody asked for yet.
    fn wanted(&mut self, height: usize) -> Vec<PageRequest> {
        let mut want = Vec::new();
        let view = self.scroll.visible(self.len(), height.max(1));
        let first = self.slot_of(view.start).unwrap_or(0);
        let mut last = self
            .slot_of(view.end.saturating_sub(1))
            .unwrap_or(self.slots.len().saturating_sub(1));
        // Near the end of what is known (or following End): the next page too.
        let near_end = view.end + height.max(1) >= self.len();
        if (near_end || self.following_end) && !self.complete {
            last = self.slots.len().saturating_sub(1);
        }
        for i in first..=last.min(self.slots.len().saturating_sub(1)) {
            let slot = &mut self.slots[i];
            let fetchable = i == 0 || slot.after.is_some();
            if slot.rows.is_none() && !slot.requested && fetchable {
                slot.requested = true;
                want.push(PageRequest {
                    generation: self.generation,
                    index: i,
                    after: slot.after.clone(),
                    limit: self.page_size,
                });
            }
        }
        want
    }

    /// Re-reads the last page (new rows may have been appended), keeping the selection.
    pub fn refresh_tail(&mut self) -> Option<PageRequest> {
        let index = self.slots.len().checked_sub(1)?;
        // An empty trailing slot is already the "next page" request point.
        let slot = &mut self.slots[index];
        if slot.requested {
            return None;
        }
        slot.requested = true;
        self.complete = false;
        Some(PageRequest {
            generation: self.generation,
            index,
            after: slot.after.clone(),
            limit: self.page_size,
        })
    }

    /// A page request failed: let it be asked for again.
    pub fn failed(&mut self, generation: u64, index: usize) {
        if generation == self.generation
            && let Some(s) = self.slots.get_mut(index)
        {
            s.requested = false;
        }
    }

    /// Every loaded row with its index (for tests and lookups).
    pub fn loaded(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots.iter().enumerate().flat_map(move |(i, s)| {
            let start = self.starts[i];
            s.rows
                .iter()
                .flat_map(|r| r.iter())
                .enumerate()
                .map(move |(j, t)| (start + j, t))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake daemon: rows 0..n, cursor = last row given.
    fn serve(n: usize, r: &PageRequest) -> Page<usize> {
        let start = r
            .after
            .as_deref()
            .map_or(0, |a| a.parse::<usize>().expect("cursor") + 1);
        let end = (start + r.limit as usize).min(n);
        Page {
            items: (start..end).collect(),
            next: (end < n).then(|| (end - 1).to_string()),
        }
    }

    fn drain(list: &mut PagedList<usize>, n: usize, mut reqs: Vec<PageRequest>, h: usize) -> usize {
        let mut calls = 0;
        while let Some(r) = reqs.pop() {
            calls += 1;
            let page = serve(n, &r);
            reqs.extend(list.accept(r.generation, r.index, page, h));
        }
        calls
    }

    #[test]
    fn pages_in_as_the_view_moves_and_evicts_far_pages() {
        let mut list = PagedList::new(100);
        let first = list.reset(1);
        drain(&mut list, 100_000, vec![first], 20);
        assert_eq!(list.get(5), Some(&5));
        // The second page is prefetched only when the view nears the end of what is known.
        assert!(list.len() >= 100);
        let reqs = list.nav(Nav::End, 20);
        let calls = drain(&mut list, 100_000, reqs, 20);
        assert!(list.is_complete());
        assert_eq!(list.len(), 100_000);
        assert_eq!(list.scroll.selected, 99_999);
        assert_eq!(list.selected(), Some(&99_999));
        assert!(calls >= 999, "walked the cursor chain: {calls}");
        assert!(
            list.loaded_pages() <= 2 * KEEP_PAGES + 1,
            "{}",
            list.loaded_pages()
        );
        // Back home: the evicted first page is fetched again with its cursor.
        let reqs = list.nav(Nav::Home, 20);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].index, 0);
        assert_eq!(list.get(0), None);
        drain(&mut list, 100_000, reqs, 20);
        assert_eq!(list.get(0), Some(&0));
    }

    #[test]
    fn stale_generations_are_ignored() {
        let mut list = PagedList::new(10);
        let old = list.reset(1);
        let new = list.reset(2);
        assert!(list.accept(old.generation, 0, serve(5, &old), 5).is_empty());
        assert!(list.is_loading());
        list.accept(new.generation, 0, serve(5, &new), 5);
        assert_eq!(list.len(), 5);
        assert!(list.is_complete());
    }

    #[test]
    fn tail_refresh_picks_up_new_rows() {
        let mut list = PagedList::new(10);
        let r = list.reset(1);
        drain(&mut list, 15, vec![r], 5);
        let reqs = list.nav(Nav::End, 5);
        drain(&mut list, 15, reqs, 5);
        assert_eq!(list.len(), 15);
        let r = list.refresh_tail().expect("tail");
        drain(&mut list, 18, vec![r], 5);
        assert_eq!(list.len(), 18);
    }
}
