//! Process-wide memory settings of `hallpassd` (and of the bench, so in-process figures match).

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`, inherited by
/// children). With THP on, as many distributions ship it, the kernel zeroes 2 MiB at a time
/// while mimalloc grows its arenas: about a fifth of a 100k-person directory sync's samples were
/// in `clear_page_erms`. Off, that sync's read and no-change re-sync take about 30% less
/// (BENCHMARKS.md). Best effort: a kernel without the call keeps its default.
pub fn disable_transparent_huge_pages() {
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        tracing::debug!(error = %e, "transparent huge pages stay as the kernel sets them");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_flag_is_set_for_the_process() {
        super::disable_transparent_huge_pages();
        assert_eq!(nix::sys::prctl::get_thp_disable(), Ok(true));
    }
}
