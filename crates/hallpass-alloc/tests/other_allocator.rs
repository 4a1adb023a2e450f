//! A process whose global allocator is not mimalloc (the `hallpass` CLI and the test suites
//! link the daemon library but keep the system allocator) may still reach
//! `release_free_memory`: it must return and leave that process's allocator working.

#[test]
fn releasing_under_the_system_allocator_is_harmless() {
    let before: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    drop(before.clone());
    hallpass_alloc::release_free_memory();
    let after: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    assert_eq!(before, after);
}
