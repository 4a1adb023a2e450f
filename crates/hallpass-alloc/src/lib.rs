//! The allocator of `hallpassd` and `hallpass-bench`, and the one thing about it that safe Rust
//! cannot ask for: give memory that is already free back to the operating system now.
//!
//! Why it matters: sled recovers a store by reading its whole page table into a temporary
//! snapshot (about 75 MiB at 1M grants) while it builds the live one (about 120 MiB), then
//! drops the snapshot. mimalloc keeps freed pages for its purge delay (1 s) and returns them only
//! when the thread that freed them allocates again, and the thread that opened the store is the
//! daemon's main task, which then mostly waits. So the freed snapshot stayed in the daemon's RSS
//! for its whole life: 215 MiB right after opening a 1M-grant store, 142 MiB once returned
//! (BENCHMARKS.md, "Memory at 1M grants").
//!
//! This is the workspace's only `unsafe` code, kept in a crate of its own so the rest can keep
//! `unsafe_code = "forbid"` (ARCHITECTURE.md, "Deliberate departures").

/// The global allocator to install: `#[global_allocator] static A: Allocator = Allocator;`.
pub use mimalloc::MiMalloc as Allocator;

/// Returns every page the allocator holds but no allocation uses to the operating system now,
/// rather than after mimalloc's purge delay. Call it after a phase that freed a lot at once
/// (opening the store). Costs a walk of the calling thread's heap and the arenas: milliseconds,
/// so not for a hot path. When the process's global allocator is not mimalloc (the CLI, tests),
/// mimalloc holds nothing and this does nothing.
pub fn release_free_memory() {
    #[allow(unsafe_code)]
    // SAFETY: `mi_collect` takes no pointers and touches only mimalloc's own state, which it
    // guards for calls from any thread at any time; there is no precondition to uphold.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

#[cfg(test)]
mod tests {
    /// The allocator under test must be mimalloc for the call to have anything to return.
    #[global_allocator]
    static A: super::Allocator = super::Allocator;

    /// Frees 64 MiB of small blocks, then checks that releasing brings the process's resident
    /// memory back down, which without the call stays up for the purge delay.
    #[test]
    fn freed_memory_leaves_the_resident_set() {
        let rss_kib = || -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmRSS")
        };
        let before = rss_kib();
        let blocks: Vec<Vec<u8>> = (0..64 * 1024).map(|i| vec![i as u8; 1024]).collect();
        let grown = rss_kib();
        assert!(grown >= before + 48 * 1024, "{before} -> {grown} KiB");
        drop(blocks);
        super::release_free_memory();
        let after = rss_kib();
        assert!(
            after < before + 16 * 1024,
            "64 MiB freed and released, but RSS went {before} -> {grown} -> {after} KiB"
        );
    }
}
