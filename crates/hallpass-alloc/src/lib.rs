//! The process's memory: the allocator `hallpassd` and `hallpass-bench` install, the one thing
//! about it that safe Rust cannot ask for (give memory that is already free back to the system
//! now), and what the kernel says the process holds.
//!
//! Why the release matters: sled recovers a store by reading a copy of its whole page table
//! while it builds the live one, then drops the copy. mimalloc returns freed pages only after
//! its purge delay and only when the thread that freed them allocates again, and the thread
//! that opens the store may then mostly wait, so the copy stayed resident for the life of the
//! daemon (BENCHMARKS.md, "Memory at 1M grants", has the figures). `hallpass-store` releases it
//! right after sled opens.
//!
//! This is the workspace's only `unsafe` code, kept in a crate of its own so the rest can keep
//! `unsafe_code = "forbid"` (ARCHITECTURE.md, "Deliberate departures").

/// The global allocator to install: `#[global_allocator] static A: Allocator = Allocator;`.
pub use mimalloc::MiMalloc as Allocator;

/// Returns every page the allocator holds but no allocation uses to the operating system now,
/// rather than after mimalloc's purge delay. Call it after a phase that freed a lot at once
/// (sled's recovery). Costs a walk of the calling thread's heap and the arenas: milliseconds,
/// so not for a hot path. Where the process's global allocator is not mimalloc (the CLI, the
/// test suites), mimalloc holds nothing and this does nothing.
pub fn release_free_memory() {
    #[allow(unsafe_code)]
    // SAFETY: `mi_collect` takes no pointers and touches only mimalloc's own state, which it
    // guards for calls from any thread at any time; there is no precondition to uphold.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
}

/// `(VmRSS, VmHWM)` in KiB of process `pid` (a number, or `self`), from /proc; a field the
/// kernel does not report reads as 0.
pub fn memory_kib(pid: &str) -> std::io::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
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
        let rss_kib = || super::memory_kib("self").expect("/proc/self/status").0;
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
