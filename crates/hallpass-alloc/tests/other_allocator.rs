//! A process whose global allocator is not mimalloc (the `hallpass` CLI, the store's tests and
//! the suite keep the system allocator) reaches `release_free_memory` at every store open: it
//! must return and leave that process's allocator working.

#[test]
fn releasing_under_the_system_allocator_is_harmless() {
    let before: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    // Something freed for the call to find, as after sled's recovery.
    drop(before.clone());
    hallpass_alloc::release_free_memory();
    let after: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    assert_eq!(before, after);
}
